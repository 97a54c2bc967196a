"Tests of `gradaug.train`: the paper configs, the command line, kill-and-resume exactness, NaN handling."
import signal, time
from pathlib import Path
import pytest, torch, yaml
from torch import nn
from gradaug.config import TrainConfig, ConfigError, load_config, config_dict
from gradaug.train import Trainer, NonFiniteLossError
from gradaug.checkpoint import load_checkpoint
from conftest import ROOT, start_cli
from quick_runs import quick_epochs

CONFIGS = sorted((ROOT/'gradaug'/'configs').glob('*.yaml'))

# ---------------------------------------------------------------- configs

def test_configs_exist():
    names = {p.stem for p in CONFIGS}
    for must in ('digits', 'imagenet_resnet50_baseline', 'imagenet_resnet50_gradaug', 'imagenet_resnet50_gradaug_cutmix',
                 'cifar100_wrn28_10_baseline', 'cifar100_wrn28_10_gradaug', 'cifar100_wrn28_10_gradaug_cutmix',
                 'cifar100_pyramidnet200_baseline', 'cifar100_pyramidnet200_gradaug', 'cifar100_wrn28_10_randscale_only',
                 'cifar100_wrn28_10_randwidth_only', 'cifar100_wrn28_10_rotation', 'cifar100_wrn28_10_scale_rotation',
                 'cifar100_wrn28_10_figure2', 'cifar10_resnet110_depth', 'cifar100_resnet110_depth',
                 'cifar10_resnet110_baseline', 'cifar100_resnet110_baseline',
                 *(f'cifar10_wrn28_2_{k}labels_{v}' for k in (250, 1000, 4000) for v in ('baseline', 'gradaug'))):
        assert must in names, f"gradaug/configs/{must}.yaml is missing"

@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_every_config_parses_and_validates(path):
    raw = yaml.safe_load(path.read_text())
    assert isinstance(raw, dict) and raw, path
    cfg = load_config(path)                  # unknown keys, wrong types and choices raise ConfigError
    for k, v in raw.items():                 # every value in the file reached the config (numbers coerced to float)
        assert getattr(cfg, k) == v, (path.name, k)

# (config, expected settings) checked against the paper's tables and the authors' public configs
RECIPES = {
    'cifar100_wrn28_10_gradaug': dict(model='wrn28_10', dataset='cifar100', epochs=200, batch_size=128, lr=0.1, schedule='cosine',
                                      weight_decay=5e-4, nesterov=True, n=3, alpha=0.8, sizes=[32, 28, 24], transform='scale'),
    'cifar100_wrn28_10_gradaug_cutmix': dict(base_aug='cutmix', cutmix_p=0.5, n=3, alpha=0.8),
    'cifar100_wrn28_10_randscale_only': dict(alpha=1.0, transform='scale', n=3),
    'cifar100_wrn28_10_randwidth_only': dict(alpha=0.8, transform='none', n=3),
    'cifar100_wrn28_10_rotation': dict(transform='rotation'),
    'cifar100_wrn28_10_scale_rotation': dict(transform='scale_rotation'),
    'cifar100_pyramidnet200_gradaug': dict(model='pyramidnet200', epochs=300, batch_size=64, lr=0.25, schedule='multistep',
                                           milestones=[150, 225], gamma=0.1, weight_decay=1e-4, nesterov=True, n=3, alpha=0.8),
    'imagenet_resnet50_gradaug': dict(model='resnet50', dataset='imagenet', epochs=120, batch_size=512, lr=0.2, schedule='cosine',
                                      weight_decay=1e-4, nesterov=True, momentum=0.9, n=3, alpha=0.9, sizes=[224, 192, 160, 128]),
    'imagenet_resnet50_gradaug_cutmix': dict(base_aug='cutmix', cutmix_p=0.5),
    'cifar10_resnet110_depth': dict(model='resnet110', dataset='cifar10', subnet='depth', n=3, epochs=200, batch_size=128,
                                    lr=0.1, schedule='cosine', weight_decay=1e-4, sizes=[32, 28, 24]),
    'cifar100_resnet110_depth': dict(dataset='cifar100', subnet='depth', n=3),
    'cifar10_wrn28_2_250labels_gradaug': dict(model='wrn28_2', low_labels=250, n=3, alpha=0.8),
    'cifar10_wrn28_2_1000labels_gradaug': dict(low_labels=1000),
    'cifar10_wrn28_2_4000labels_gradaug': dict(low_labels=4000),
}

@pytest.mark.parametrize('name', sorted(RECIPES))
def test_configs_match_recipes(name):
    cfg = load_config(name)
    for k, v in RECIPES[name].items(): assert getattr(cfg, k) == v, (name, k, getattr(cfg, k), v)

@pytest.mark.parametrize('path', [p for p in CONFIGS if p.stem.endswith('_baseline')], ids=lambda p: p.name)
def test_each_baseline_is_its_experiment_with_n0(path):
    base = config_dict(load_config(path))
    assert base['n'] == 0
    stem = path.stem[:-len('_baseline')]
    partners = [p for p in CONFIGS if p.stem.startswith(stem) and p != path and p.stem != stem + '_figure2']
    assert partners, f"no GradAug config beside {path.name}"
    for p in partners:
        other = config_dict(load_config(p))
        diff = {k for k in base if base[k] != other[k]} - {'name', 'n'}
        # the GradAug variants may only change GradAug's own settings (GradAug-semi's included)
        gradaug_settings = {'alpha', 'transform', 'base_aug', 'cutmix_p', 'mixup_p', 'mixup_alpha', 'subnet', 'semi',
                            'unlabelled_ratio', 'semi_temperature', 'semi_threshold', 'semi_bn_update',
                            'semi_rampup'}
        assert diff <= gradaug_settings, (p.name, diff)

def test_digits_config_is_the_default_demo():
    test_cfg = load_config('digits')
    assert config_dict(test_cfg) == config_dict(TrainConfig(name='digits'))

# ---------------------------------------------------------------- command line

def test_cli_refuses_bad_settings(cli, tmp_path):
    r = cli('lrr=0.1', '--print_config')
    assert r.returncode == 1 and "unknown config key 'lrr'" in r.stderr and "did you mean 'lr'" in r.stderr, r.stderr
    r = cli('transform=scales', 'epochs=x', '--print_config')
    assert r.returncode == 1 and "transform='scales' must be one of 'scale', 'rotation', 'scale_rotation', 'none'" in r.stderr
    assert "epochs='x' must be an int" in r.stderr
    r = cli('--config', tmp_path/'missing.yaml')
    assert r.returncode == 1 and 'neither a file nor a shipped config' in r.stderr

def test_cli_print_config_round_trips(cli, tmp_path):
    r = cli('--config', 'cifar100_wrn28_10_gradaug', 'n=5', 'alpha=0.7', '--print_config')
    assert r.returncode == 0, r.stderr
    (tmp_path/'c.yaml').write_text(r.stdout)
    c = load_config(tmp_path/'c.yaml')
    assert (c.n, c.alpha, c.model, c.epochs, c.name) == (5, 0.7, 'wrn28_10', 200, 'cifar100_wrn28_10_gradaug')

# 100 labelled digits in batches of 10: 10 steps an epoch
TINY = dict(dataset='digits', model='wrn10_1', epochs=2, low_labels=100, batch_size=10, n=2, alpha=0.8, lr=0.05,
            base_aug='cutmix', checkpoint_every=3, threads=1, progress=False, seed=3)

def _weights(run):
    return load_checkpoint(run/'checkpoint.pt')

def test_kill_mid_epoch_then_resume_is_bit_identical(tmp_path, cli, quick_epochs):
    cfg = tmp_path/'tiny.yaml'; cfg.write_text(yaml.safe_dump(TINY))
    straight = cli('--config', cfg, f'out={tmp_path/"straight"}')
    assert straight.returncode == 0, straight.stderr
    assert 'final test top-1' in straight.stdout and 'checkpoint.pt' in straight.stdout
    # the same run in a (forked) process of its own, killed with SIGKILL right after its first step checkpoint
    # (step 3 of 10)
    run = tmp_path/'killed'
    p = start_cli('--config', cfg, f'out={run}', cwd=tmp_path)
    deadline = time.time() + 90
    while not (run/'checkpoint.pt').exists() and p.poll() is None and time.time() < deadline: time.sleep(0.01)
    p.send_signal(signal.SIGKILL); p.wait()
    assert p.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    ck = load_checkpoint(run/'checkpoint.pt')
    assert ck['epoch'] == 0 and 0 < ck['batch_in_epoch'] < 10, (ck['epoch'], ck['batch_in_epoch'])   # mid-epoch
    assert not (run/'metrics.csv').exists()
    assert (run/'.lock').exists()                       # left by the killed process ...
    resumed = cli(f'resume={run}')                      # ... but its lock died with it (the kernel's flock)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {run} at epoch 1 of 2, step {ck['global_step']}" in resumed.stdout, resumed.stdout
    a, b = _weights(tmp_path/'straight'), _weights(run)
    assert (a['epoch'], a['global_step']) == (b['epoch'], b['global_step']) == (2, 20)
    for k, v in a['model'].items(): assert torch.equal(v, b['model'][k]), k
    for i, s in a['optimizer']['state'].items():
        assert torch.equal(s['momentum_buffer'], b['optimizer']['state'][i]['momentum_buffer'])
    key = lambda h: [(r['train_loss'], r['train_sub_loss'], r['test_top1']) for r in h]
    assert key(a['history']) == key(b['history'])
    # a fresh run in a folder holding one is refused, not overwritten
    again = cli('--config', cfg, f'out={run}')
    assert again.returncode == 1 and 'already holds a run' in again.stderr

# ---------------------------------------------------------------- NaN

class NaNAfter(nn.Module):
    "Cross-entropy that turns NaN from its k-th call on (a fault injection)."
    def __init__(self, k): super().__init__(); self.k, self.calls = k, 0
    def forward(self, out, y):
        self.calls += 1
        loss = nn.functional.cross_entropy(out, y)
        return loss * float('nan') if self.calls >= self.k else loss

def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    cfg = TrainConfig(**{**TINY, 'base_aug': 'none', 'checkpoint_every': 4}, out=str(tmp_path/'run'))
    t = Trainer(cfg, criterion=NaNAfter(7), log=lambda s: None)
    with pytest.raises(NonFiniteLossError) as e: t.fit()
    msg = str(e.value)
    assert 'non-finite loss at step 7 (epoch 1, batch 7)' in msg and 'full-network loss nan' in msg, msg
    assert 'checkpoint.pt (step 4), is kept' in msg, msg
    ck = load_checkpoint(tmp_path/'run'/'checkpoint.pt')
    assert ck['global_step'] == 4
    assert all(torch.isfinite(v).all() for v in ck['model'].values() if v.is_floating_point())

def test_cli_exploding_lr_ends_with_message(tmp_path, cli, quick_epochs):
    cfg = tmp_path/'tiny.yaml'; cfg.write_text(yaml.safe_dump({**TINY, 'base_aug': 'none', 'checkpoint_every': 1}))
    r = cli('--config', cfg, f'out={tmp_path/"run"}', 'lr=1e12', 'momentum=0', 'nesterov=false')
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert 'non-finite' in r.stderr and 'is kept' in r.stderr and 'Traceback' not in r.stderr, r.stderr
    ck = load_checkpoint(tmp_path/'run'/'checkpoint.pt')
    assert all(torch.isfinite(v).all() for v in ck['model'].values() if v.is_floating_point())
