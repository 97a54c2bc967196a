"""`slim` on a sample of timm's architectures (pretrained=False, small inputs): `python tests/test_slim_timm.py` prints
works / refused / crashed for each (`GRADAUG_SLOW=1` runs the sweep in pytest); a fast test slims two tiny ones.
timm is an optional extra (the `dev` extra installs it): without it these tests are skipped."""
import copy, os, sys, pytest, torch
timm = pytest.importorskip('timm') if __name__ != '__main__' else __import__('timm')
from gradaug.slim import slim, width, extract, slim_layers
from gradaug.core import GradAug
from slim_sweep import slim_outcome, sweep

SLOW = os.environ.get('GRADAUG_SLOW') is None
SAMPLE = ['resnet10t', 'resnet18', 'resnet50d', 'resnext26ts', 'seresnet18', 'regnetx_002', 'regnety_002',
          'efficientnet_b0', 'mobilenetv3_small_050', 'mobilenetv2_050', 'mnasnet_050', 'ghostnet_050', 'densenet121',
          'dla34', 'vgg11', 'convnext_atto', 'convnextv2_atto', 'vit_tiny_patch16_224', 'deit_tiny_patch16_224',
          'swin_tiny_patch4_window7_224', 'mixer_b16_224', 'levit_128s', 'cspresnet50', 'hrnet_w18_small', 'xception41']
SIZE = 64
KW = {'vit_tiny_patch16_224': dict(img_size=64), 'deit_tiny_patch16_224': dict(img_size=64),
      'swin_tiny_patch4_window7_224': dict(img_size=224), 'mixer_b16_224': dict(img_size=64),
      'levit_128s': dict(img_size=224)}

def outcome(name:str)->tuple:
    "`slim_outcome` of timm's `name` (random weights, 10 classes)."
    kw = KW.get(name, {})
    build = lambda: timm.create_model(name, pretrained=False, num_classes=10, **kw)
    return slim_outcome(build, kw.get('img_size', SIZE))

@pytest.mark.parametrize('name', ['resnet10t', 'vit_tiny_patch16_224', 'mobilenetv3_small_050'])
def test_tiny_timm_models(name):
    assert outcome(name) == ('works', '')
    torch.manual_seed(0)
    m = slim(timm.create_model(name, pretrained=False, num_classes=10, **KW.get(name, {})),
             example=torch.zeros(1, 3, SIZE, SIZE)).train()
    full_only = copy.deepcopy(m)
    x, y = torch.randn(4, 3, SIZE, SIZE), torch.tensor([1, 2, 3, 4])
    GradAug(m, n=2, alpha=0.6).step(x, y, torch.nn.CrossEntropyLoss(), widths=[0.8, 0.6])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    with torch.no_grad(): full_only(x)                            # the BN rule: only the full network moves BN buffers
    buffers = dict(full_only.named_buffers())
    for k, b in m.named_buffers(): assert torch.equal(b, buffers[k]), k

def test_norm_act_layers_slim_and_extract_as_timm_layers():
    "timm's BatchNormAct2d (BN, then its drop and act) slims like BatchNorm2d; `extract` gives timm's class back."
    torch.manual_seed(0)
    m = slim(timm.create_model('mobilenetv3_small_050', pretrained=False, num_classes=10),
             example=torch.zeros(1, 3, SIZE, SIZE)).eval()
    norm_acts = {n for n, x in m.named_modules() if isinstance(x, timm.layers.BatchNormAct2d)}
    assert len(norm_acts) > 20 and norm_acts <= {n for n, x in m.named_modules() if x in slim_layers(m)}
    assert all(x.slim_out for x in slim_layers(m)[:-1])             # every layer but the classifier shrinks
    small = extract(m, 0.6).eval()
    for name, x in small.named_modules():
        if name in norm_acts:
            assert type(x) is timm.layers.BatchNormAct2d and x.num_features < dict(m.named_modules())[name].num_features
            assert type(x.act) is type(dict(m.named_modules())[name].act)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad(), width(m, 0.6): torch.testing.assert_close(small(x), m(x), rtol=1e-4, atol=1e-4)

@pytest.mark.skipif(SLOW, reason='the timm sample takes minutes: GRADAUG_SLOW=1 runs it')
def test_timm_sweep():
    outcomes = sweep(SAMPLE, outcome, 'timm sample')
    assert not {n: d for n, (o, d) in outcomes.items() if o == 'crashed'}
    assert len(outcomes) >= 20

if __name__ == '__main__': sweep(sys.argv[1:] or SAMPLE, outcome, 'timm sample')
