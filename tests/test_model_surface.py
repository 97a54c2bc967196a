"The model surface (`forward_features`, `forward_head`, `get_classifier`, `feature_layer`) on torchvision's families."
import pytest, torch, torchvision
from gradaug.models import feature_layer, forward_features, forward_head, get_classifier, create_model

FAMILIES = {'densenet121': 'features', 'efficientnet_b0': 'features', 'regnet_x_400mf': 'trunk_output',
            'shufflenet_v2_x0_5': 'conv5', 'mnasnet0_5': 'layers', 'resnext50_32x4d': 'layer4',
            'wide_resnet50_2': 'layer4', 'mobilenet_v3_small': 'features'}

@pytest.mark.parametrize('arch', sorted(FAMILIES))
def test_surface_of_torchvision_families(arch):
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(num_classes=10).eval()
    assert feature_layer(model) == FAMILIES[arch]
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = forward_features(model, x)
        assert feats.dim() == 4 and feats.shape[-1] > 1
        torch.testing.assert_close(forward_head(model, feats), model(x), rtol=1e-5, atol=1e-5)
        pre = forward_head(model, feats, pre_logits=True)
    classifier = get_classifier(model)
    assert isinstance(classifier, (torch.nn.Linear, torch.nn.Conv2d))
    assert pre.shape[1] == (classifier.in_features if isinstance(classifier, torch.nn.Linear) else classifier.in_channels)

@pytest.mark.parametrize('name', ['resnet110', 'wrn28_10', 'pyramidnet110', 'resnet50'])
def test_gradaug_models_have_the_methods(name):
    with torch.device('meta'): model = create_model(name, num_classes=100)
    assert all(callable(getattr(model, m, None)) for m in ('forward_features', 'forward_head', 'get_classifier'))
    assert get_classifier(model) is model.fc
