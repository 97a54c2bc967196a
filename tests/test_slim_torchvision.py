"`slim` on the torchvision models the library promises to support: exact at width 1.0, `extract` matches at smaller widths."
import copy, pytest, torch, torchvision
from gradaug.slim import slim, width, extract, slim_layers
from gradaug.core import GradAug

ARCHS = ['resnet18', 'resnet50', 'wide_resnet50_2', 'resnext50_32x4d', 'mobilenet_v2']

@pytest.fixture(scope='module', params=ARCHS)
def pair(request):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, request.param)(num_classes=10).eval()
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
    m = slim(torchvision.models.resnet50(num_classes=10))
    small = extract(m, 0.5)
    assert (small.conv1.in_channels, small.conv1.out_channels) == (3, 32)
    assert small.layer4[2].conv3.out_channels == 1024 and small.fc.in_features == 1024
    small8 = extract(slim(torchvision.models.resnet50(num_classes=10), divisor=8), 0.9)
    assert all(c.out_channels % 8 == 0 for c in small8.modules() if isinstance(c, torch.nn.Conv2d))
