"""`gradaug-cam` as a user meets it: a figure from the reference digit models, and short refusals (exit 1, no
traceback) for options, checkpoints and data it cannot use. The commands run in this process through their console
script's own argument parser (conftest's `cli`)."""
from functools import partial
import pytest, torch
from matplotlib.image import imread
from conftest import ROOT, short_error

MODELS = ROOT/'nbs'/'_reference_models'

@pytest.fixture
def cam_cli(cli):
    "Run `gradaug-cam` in this process: (exit status, stdout, stderr)."
    return partial(cli, prog='gradaug-cam')

short_error = partial(short_error, prog='gradaug-cam')

def test_draws_the_figure(cam_cli, tmp_path):
    r = cam_cli(MODELS/'baseline-s0.pt', MODELS/'gradaug-s0.pt', '--out', tmp_path/'figs'/'cam.png', '--n', '2',
                '--calibrate', '2')
    assert r.returncode == 0, r.stderr
    assert f"written to {tmp_path/'figs'/'cam.png'}" in r.stdout
    image = imread(tmp_path/'figs'/'cam.png')
    assert image.shape[0] > 200 and image.shape[1] > 3*image.shape[0]/2   # 2 rows, 4 columns (image, 3 models)

def test_widths_and_methods(cam_cli, tmp_path):
    r = cam_cli(MODELS/'gradaug-s0.pt', '--out', tmp_path/'a.png', '--indices', '3', '7', '--widths', '0.8', '0.9',
                '--calibrate', '0', '--method', 'layercam')
    assert r.returncode == 0, r.stderr
    r = cam_cli(MODELS/'gradaug-s0.pt', '--out', tmp_path/'b.png', '--n', '1', '--widths', 'none')
    assert r.returncode == 0, r.stderr
    assert imread(tmp_path/'a.png').shape[1] > 1.5*imread(tmp_path/'b.png').shape[1]   # 4 columns against 2

def test_refusals(cam_cli, tmp_path):
    short_error(cam_cli(tmp_path/'nowhere.pt', '--out', 'f.png'), 'does not exist')
    torch.save({'w': torch.zeros(2)}, tmp_path/'plain.pt')
    short_error(cam_cli(tmp_path/'plain.pt', '--out', 'f.png'), 'is a plain state_dict')
    ckpt = MODELS/'gradaug-s0.pt'
    short_error(cam_cli(ckpt, '--out', 'f.png', '--widths', '1.5'), '--widths must be sub-network widths in (0, 1)')
    short_error(cam_cli(ckpt, '--out', 'f.png', '--widths', 'wide'), '--widths must be numbers')
    short_error(cam_cli(ckpt, '--out', 'f.png', '--method', 'gradcam3'), "--method 'gradcam3' is not one of")
    short_error(cam_cli(ckpt, '--out', 'f.png', '--indices', '-1'), 'outside the test set')
    short_error(cam_cli(ckpt, '--out', 'f.png', '--calibrate', '-1'), '--calibrate must be >= 0')
    short_error(cam_cli(ckpt, '--out', 'f.xyz', '--n', '1', '--calibrate', '0'), 'cannot write --out')
    assert not (tmp_path/'f.png').exists()
    assert cam_cli(ckpt).returncode == 2                              # --out is required (argparse's usage error)
