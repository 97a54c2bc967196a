"Tests of GradAug-semi through the shipped configs and the command line (issue 12)."
from pathlib import Path
import pytest, yaml
from gradaug.config import load_config, config_dict
from conftest import ROOT

CONFIGS = ROOT/'gradaug'/'configs'
SEMI = ['digits_semi', *(f'cifar10_wrn28_2_{k}labels_gradaug_semi' for k in (250, 1000, 4000)),
        'stl10_wrn28_2_1000labels_gradaug_semi']

def siblings(name:str)->tuple:
    "The baseline and GradAug configs shipped beside a GradAug-semi config."
    if name == 'digits_semi': return 'digits_500labels_baseline', 'digits_500labels_gradaug'
    stem = name.removesuffix('_gradaug_semi')
    return f'{stem}_baseline', f'{stem}_gradaug'

@pytest.mark.parametrize('name', SEMI)
def test_semi_configs_beside_their_baseline_and_gradaug(name):
    semi = load_config(name)
    baseline, gradaug = (load_config(s) for s in siblings(name))
    assert semi.semi and semi.n == 3 and semi.alpha == 0.8 and (semi.low_labels is not None or semi.dataset == 'stl10')
    assert baseline.n == 0 and not baseline.semi and not gradaug.semi
    same = lambda a, b, skip: {k: v for k, v in config_dict(a).items() if k not in skip} == \
                              {k: v for k, v in config_dict(b).items() if k not in skip}
    assert same(semi, gradaug, {'name', 'semi'}), name          # the only difference is semi (its options at defaults)
    assert same(baseline, gradaug, {'name', 'n'}), name

def test_digits_semi_runs_and_logs_its_data(cli, tmp_path):
    r = cli('--config', 'digits_semi', 'epochs=1', 'warmup_epochs=0', 'steps_per_epoch=2', 'threads=1',
            'progress=false', f'out={tmp_path/"run"}')
    assert r.returncode == 0, r.stderr
    assert ('data: digits, 500 labelled training images (low_labels=500, split 0), 50 per step; 3,500 unlabelled '
            'images, 50 per step (GradAug-semi); 1,000 test images') in r.stdout, r.stdout
    assert 'images drawn in 2 steps: 100 labelled, 100 unlabelled' in r.stdout, r.stdout
    assert yaml.safe_load((tmp_path/'run'/'config.yaml').read_text())['semi'] is True

@pytest.mark.parametrize('args, expected', [
    (['semi=true'], 'semi=true needs unlabelled images'),
    (['semi=true', 'low_labels=500', 'unlabelled_ratio=0'], 'unlabelled_ratio=0.0 must be > 0'),
    (['low_labels=500', 'semi_temperature=0.5'], 'semi_temperature=0.5 only apply with semi=true'),
    (['--config', 'digits_semi', 'n=0'], 'semi=true needs sub-networks'),
])
def test_bad_semi_settings_are_short_errors(cli, args, expected):
    r = cli(*args)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert expected in r.stderr and 'Traceback' not in r.stderr, r.stderr

def test_offline_semi_run_without_data_is_a_short_error(cli, tmp_path):
    r = cli('--config', 'stl10_wrn28_2_1000labels_gradaug_semi', f'data_root={tmp_path/"none"}', 'progress=false')
    assert r.returncode == 1 and 'stl10: dataset not found' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    assert not (tmp_path/'none').exists() or not any((tmp_path/'none').iterdir())
