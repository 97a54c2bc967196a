"""`slim` on the torchvision models the library promises to support: exact at width 1.0, `extract` matches at smaller
widths; the families slimmed along traced channel dependencies (concatenation, flatten, shuffle and split) match
their masked-channel reference; LayerNorm nets (ConvNeXt) and transformers (ViT, MLP hidden width only) match their
definition; and a sweep of the whole classification zoo (`python tests/test_slim_torchvision.py` prints its counts)."""
import copy, os, subprocess, sys, pytest, torch, torchvision
from gradaug.slim import slim, width, extract, slim_layers, active_out_channels
from gradaug.slimmable import kept_inputs
from gradaug.core import GradAug
from torchvision.models.resnet import ResNet, Bottleneck
from torchvision.models.densenet import DenseNet
from slim_sweep import slim_outcome, sweep

ZOO = sorted(torchvision.models.list_models(module=torchvision.models))
SIZE = {'inception_v3': 80, 'maxvit_t': 224}   # the smallest input each model accepts, where 64x64 is too small
SLOW = os.environ.get('GRADAUG_SLOW') is None

# the wide and grouped bottlenecks of wide_resnet50_2 and resnext50_32x4d, in a 5-block ResNet (an identity block in
# layer1, a downsampling block in each stage): the pattern, not the depth, is what they add to resnet50's (the zoo
# sweep, GRADAUG_SLOW=1, slims the full-size ones)
ARCHS = {'resnet18': lambda: torchvision.models.resnet18(num_classes=10),
         'resnet50': lambda: torchvision.models.resnet50(num_classes=10),
         'wide_bottleneck': lambda: ResNet(Bottleneck, [2, 1, 1, 1], num_classes=10, width_per_group=128),
         'resnext_bottleneck': lambda: ResNet(Bottleneck, [2, 1, 1, 1], num_classes=10, groups=32, width_per_group=4),
         'mobilenet_v2': lambda: torchvision.models.mobilenet_v2(num_classes=10)}

@pytest.fixture(scope='module', params=sorted(ARCHS))
def pair(request):
    torch.manual_seed(0)
    ref = ARCHS[request.param]().eval()
    return request.param, ref, slim(copy.deepcopy(ref))

def test_width_one_is_bit_identical(pair):
    name, ref, m = pair
    sd, sd2 = ref.state_dict(), m.state_dict()
    assert list(sd) == list(sd2)
    for k in sd: assert torch.equal(sd[k], sd2[k]), k
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(): assert torch.equal(ref(x), m(x))
    m.load_state_dict(ref.state_dict())   # torchvision weights load after slim

@pytest.mark.parametrize('w', [0.9, 0.55])
def test_extract_matches_width(pair, w):
    name, ref, m = pair
    small = extract(m, w).eval()
    assert not slim_layers(small)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad(), width(m.eval(), w): torch.testing.assert_close(small(x), m(x), rtol=1e-4, atol=1e-4)
    n = lambda net: sum(p.numel() for p in net.parameters())
    assert n(small) < n(m)
    assert small.fc.out_features == 10 if hasattr(small, 'fc') else small.classifier[-1].out_features == 10

def test_step_trains_every_parameter(pair):
    name, ref, m = pair
    m = copy.deepcopy(m).train()
    before = {k: v.clone() for k, v in m.state_dict().items() if 'running' in k}
    GradAug(m, n=2, alpha=0.8).step(torch.randn(2, 3, 64, 64), torch.tensor([1, 2]), torch.nn.CrossEntropyLoss(), widths=[0.9, 0.8])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())

def test_channel_counts_of_extracted_resnet50():
    plain = torchvision.models.resnet50(num_classes=10)
    m = slim(copy.deepcopy(plain))
    small = extract(m, 0.5)
    assert (small.conv1.in_channels, small.conv1.out_channels) == (3, 32)
    assert small.layer4[2].conv3.out_channels == 1024 and small.fc.in_features == 1024
    small8 = extract(slim(plain, divisor=8), 0.9)
    assert all(c.out_channels % 8 == 0 for c in small8.modules() if isinstance(c, torch.nn.Conv2d))

def test_active_out_channels_match_outputs(pair):
    name, ref, m = pair
    pairs = []
    def record(layer, args, out): pairs.append((layer.slim_name, out.shape[1], active_out_channels(layer)))
    hooks = [l.register_forward_hook(record) for l in slim_layers(m) if not isinstance(l, torch.nn.BatchNorm2d)]
    try:
        with torch.no_grad(), width(m.eval(), 0.55): m(torch.randn(2, 3, 64, 64))
    finally:
        for h in hooks: h.remove()
    assert len(pairs) > 15
    assert [(n, got) for n, got, _ in pairs] == [(n, want) for n, _, want in pairs]

# torch warns about the gradient layout once per process, so each mode needs a process in which no backward has run
# yet: one new interpreter imports torch, torchvision and gradaug.slim (and checks that gradaug.slim, whose import
# adds torchvision's filter (sympy's), adds none of its own), then forks a child per mode, which runs the probe
LAYOUT_PROBE = """
import os, warnings, contextlib, torch, torchvision
before = list(warnings.filters)
from gradaug.slim import sliced, quiet_grad_layout
print('filters kept', warnings.filters == before, flush=True)
def probe(mode):
    p = torch.nn.Parameter(torch.randn(6, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        layout = lambda: sum('gradient layout contract' in str(w.message) for w in caught)
        leaf = sliced(p, (slice(3), slice(2)))   # assigns leaf.grad = p.grad[:3, :2], a strided view
        at_assignment = layout()
        with quiet_grad_layout() if mode == 'quiet' else contextlib.nullcontext():
            (leaf**2).sum().backward()
    print(mode, at_assignment, layout() - at_assignment, flush=True)
for mode in ('plain', 'quiet'):
    child = os.fork()
    if child == 0:
        probe(mode)
        os._exit(0)
    os.waitpid(child, 0)
"""

@pytest.fixture(scope='module')
def layout_probe()->dict:
    "The probe's lines, by their first word: 'filters', 'plain', 'quiet'."
    run = subprocess.run([sys.executable, '-c', LAYOUT_PROBE], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return {line.split(' ', 1)[0]: line.split(' ', 1)[1] for line in run.stdout.strip().splitlines()}

@pytest.mark.parametrize('mode, warned', [('plain', '0 1'), ('quiet', '0 0')])
def test_grad_layout_warning_comes_from_backward(layout_probe, mode, warned):
    """The warning is raised by backward (AccumulateGrad), not by the assignment, and `quiet_grad_layout` silences it;
    importing gradaug.slim leaves the warning filters alone."""
    assert layout_probe['filters'] == 'kept True'
    assert layout_probe[mode] == warned

# ---------------------------------------------------------------- families slimmed along traced channel dependencies
def narrow_classifier(model:torch.nn.Module, hidden:int=64)->torch.nn.Module:
    "`model` with the 4096-wide hidden layers of its `classifier` (VGG, AlexNet) made `hidden` wide, in place."
    for i, layer in enumerate(model.classifier):
        if not isinstance(layer, torch.nn.Linear): continue
        n_in, n_out = (hidden if n == 4096 else n for n in (layer.in_features, layer.out_features))
        model.classifier[i] = torch.nn.Linear(n_in, n_out)
    return model

# vgg11 and alexnet with 64-wide hidden classifier layers (the flatten into the first Linear is what is traced; the
# 4096-wide layers made them the slowest models here), densenet121's dense blocks with 2 layers each (the
# concatenations are the pattern) and shufflenet_v2_x0_5 (channel shuffles and splits, its trunk kept whole): the zoo
# sweep, GRADAUG_SLOW=1, slims the full-size ones
TRACED = {'densenet': lambda: DenseNet(block_config=(2, 2, 2, 2), num_classes=10),
          'googlenet': lambda: torchvision.models.googlenet(num_classes=10, aux_logits=False, init_weights=False),
          'squeezenet1_1': lambda: torchvision.models.squeezenet1_1(num_classes=10),
          'vgg11': lambda: narrow_classifier(torchvision.models.vgg11(num_classes=10)),
          'alexnet': lambda: narrow_classifier(torchvision.models.alexnet(num_classes=10)),
          'inception_v3': lambda: torchvision.models.inception_v3(num_classes=10, aux_logits=False, init_weights=False),
          'shufflenet': lambda: torchvision.models.shufflenet_v2_x0_5(num_classes=10)}

@pytest.fixture(scope='module', params=list(TRACED))
def traced(request):
    torch.manual_seed(0)
    size = SIZE.get(request.param, 64)
    ref = TRACED[request.param]().eval()
    return request.param, ref, slim(copy.deepcopy(ref), example=torch.zeros(1, 3, size, size)), size

def masked_output(model, x, w):
    "The full network's eval output with every channel a sub-network at width `w` drops zeroed at every layer's input."
    with width(model, w): keep = {m: kept_inputs(m) for m in slim_layers(model)}
    def zero(m, args):
        t, dim = args[0], -1 if isinstance(m, torch.nn.Linear) else 1
        mask = torch.zeros(t.shape[dim]); mask[keep[m]] = 1
        shape = [1]*t.dim(); shape[dim] = -1
        return (t*mask.view(shape),)
    hooks = [m.register_forward_pre_hook(zero) for m in slim_layers(model)]
    try:
        with torch.no_grad(), width(model, 1.0): return model.eval()(x)
    finally:
        for h in hooks: h.remove()

def test_traced_width_one_is_bit_identical(traced):
    name, ref, m, size = traced
    assert list(ref.state_dict()) == list(m.state_dict())
    x = torch.randn(2, 3, size, size)
    with torch.no_grad(): assert torch.equal(ref(x), m.eval()(x))
    if name == 'shufflenet':   # the shuffled trunk (each branch's output) keeps full width, the branches shrink
        assert not m.stage2[1].branch2[5].slim_out and m.stage2[1].branch2[0].slim_out and m.conv5[0].slim_out
    else: assert any(l.in_map is not None for l in slim_layers(m))     # it really is traced

@pytest.mark.parametrize('w', [0.9, 0.6])
def test_traced_matches_masked_reference_and_extract(traced, w):
    name, ref, m, size = traced
    x = torch.randn(2, 3, size, size)
    with torch.no_grad(), width(m.eval(), w): sub = m(x)
    torch.testing.assert_close(sub, masked_output(m, x, w), rtol=1e-5, atol=1e-5)
    small = extract(m, w).eval()
    assert not slim_layers(small)
    with torch.no_grad(): torch.testing.assert_close(small(x), sub, rtol=1e-5, atol=1e-5)
    n = lambda net: sum(p.numel() for p in net.parameters())
    assert n(small) < n(m)

def test_traced_gradaug_step(traced):
    name, ref, m, size = traced
    m = copy.deepcopy(m).train()
    full_only = copy.deepcopy(m)
    x, y = torch.randn(4, 3, size, size), torch.tensor([1, 2, 3, 4])
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    GradAug(m, n=2, alpha=0.6).step(x, y, torch.nn.CrossEntropyLoss(), widths=[0.8, 0.6])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    opt.step()
    with torch.no_grad(): full_only(x)                            # the BN rule: only the full network moves BN buffers
    buffers = dict(full_only.named_buffers())
    for k, b in m.named_buffers(): assert torch.equal(b, buffers[k]), k

# ---------------------------------------------------------------- LayerNorm nets and transformers
def tiny_convnext():
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig
    return ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], stochastic_depth_prob=0.1, num_classes=10)

def tiny_vit():
    return torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64,
                                                mlp_dim=128, num_classes=10)

LN_NETS = {'convnext': tiny_convnext, 'vit': tiny_vit}

@pytest.fixture(scope='module', params=sorted(LN_NETS))
def ln_net(request):
    torch.manual_seed(0)
    ref = LN_NETS[request.param]().eval()
    with torch.no_grad():   # layer_scale 1e-6 and a zero head would hide a wrong slice: give them size
        for k, p in ref.named_parameters():
            if 'layer_scale' in k or 'heads' in k: p.normal_()
    return request.param, ref, slim(copy.deepcopy(ref), example=torch.zeros(1, 3, 32, 32))

def test_ln_width_one_is_bit_identical(ln_net):
    name, ref, m = ln_net
    assert list(ref.state_dict()) == list(m.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad(): assert torch.equal(ref(x), m.eval()(x))

@pytest.mark.parametrize('w', [0.9, 0.6])
def test_ln_matches_definition_and_extract(ln_net, w):
    from gradaug.depgraph import check_masked
    name, ref, m = ln_net
    x = torch.randn(2, 3, 32, 32)
    check_masked(m, x, w, tol=1e-5)   # every layer's input = the LN definition's, layer by layer (eval mode)
    small = extract(m, w).eval()
    assert type(small) is type(ref) and not slim_layers(small)
    with torch.no_grad(), width(m.eval(), w): torch.testing.assert_close(small(x), m(x), rtol=1e-5, atol=1e-5)
    n = lambda net: sum(p.numel() for p in net.parameters())
    assert n(small) < n(m)

def test_what_width_means(ln_net):
    "ConvNeXt: every channel (the residual width too); ViT: only the MLP hidden width (MatFormer-style)."
    name, ref, m = ln_net
    shrinking = {l.slim_name for l in slim_layers(m) if isinstance(l, (torch.nn.Conv2d, torch.nn.Linear)) and l.slim_out}
    if name == 'vit': assert shrinking == {f'encoder.layers.encoder_layer_{i}.mlp.0' for i in range(2)}
    else: assert 'features.0.0' in shrinking and 'features.1.0.block.5' in shrinking

def test_ln_gradaug_step(ln_net):
    name, ref, m = ln_net
    m = copy.deepcopy(m).train()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([1, 2, 3, 4])
    opt = torch.optim.SGD(m.parameters(), lr=0.01)
    before = {k: p.clone() for k, p in m.named_parameters()}
    GradAug(m, n=2, alpha=0.6).step(x, y, torch.nn.CrossEntropyLoss(), widths=[0.8, 0.6])
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters())
    opt.step()
    assert all(not torch.equal(p, before[k]) for k, p in m.named_parameters() if p.grad.abs().sum() > 0)

@pytest.mark.skipif(SLOW, reason='the whole zoo takes minutes: GRADAUG_SLOW=1 runs it')
def test_zoo_sweep():
    outcomes = sweep(ZOO, zoo_outcome, 'torchvision zoo')
    crashed = {n: d for n, (o, d) in outcomes.items() if o == 'crashed'}
    assert not crashed, crashed
    assert sum(o == 'works' for o, _ in outcomes.values()) >= 60
    assert sum(o == 'refused' for o, _ in outcomes.values()) <= 3

# ---------------------------------------------------------------- the torchvision classification zoo

def zoo_outcome(name:str)->tuple:
    "`slim_outcome` of torchvision's `name` (random weights, 10 classes, the smallest input it accepts)."
    kw = dict(num_classes=10)
    if name in ('googlenet', 'inception_v3'): kw.update(aux_logits=False, init_weights=False)
    size = SIZE.get(name, 64)
    if name.startswith('vit_'): kw.update(image_size=56 if name == 'vit_h_14' else 64)
    if name == 'maxvit_t': kw.update(input_size=(size, size))
    size = kw.get('image_size', size)
    return slim_outcome(lambda: getattr(torchvision.models, name)(**kw), size, tol=1e-4)

if __name__ == '__main__': sweep(sys.argv[1:] or ZOO, zoo_outcome, 'torchvision zoo')
