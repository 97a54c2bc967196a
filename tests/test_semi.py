"Tests of GradAug-semi through the shipped configs and the command line (issue 12)."
from pathlib import Path
import pytest, yaml
from gradaug.config import load_config, config_dict
from conftest import ROOT
from quick_runs import close_workers, make_epochs_quick, no_plots, quick_epochs

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

def test_digits_semi_runs_and_logs_its_data(cli, tmp_path, no_plots):
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

# ---------------------------------------------------------------- the unlabelled stream: ranks and resuming
import os
import torch, torch.distributed as dist
from gradaug.config import TrainConfig
from gradaug.runtime import seed_everything
from gradaug.train import Trainer
from conftest import two_ranks

TINY_SEMI = dict(semi=True, low_labels=300, n=2, epochs=2, steps_per_epoch=3, batch_size=10, progress=False,
                 threads=1, device='cpu', seed=1)

def recording(trainer:Trainer)->list:
    "The unlabelled batches `trainer` draws from now on (its task's `unlabelled_batch`, wrapped)."
    drawn, draw = [], trainer.task.unlabelled_batch
    def record():
        u = draw()
        drawn.append(u.clone())
        return u
    trainer.task.unlabelled_batch = record
    return drawn

def semi_rank_worker(rank:int, world:int, port:int, out:str):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.set_num_threads(1)
    make_epochs_quick()   # as the `quick_epochs` fixture: 100 test digits, no plot (this process ends with the test)
    seed_everything(1)
    trainer = Trainer(TrainConfig(out=f'{out}/run', augment=False, **TINY_SEMI), log=lambda s: None)
    drawn = recording(trainer)
    trainer.fit()
    torch.save(dict(drawn=drawn, state=trainer.model.state_dict()), f'{out}/rank{rank}.pt')
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)   # as in test_ddp: skip the interpreter teardown, where gloo's threads sometimes abort

def test_ranks_draw_different_unlabelled_images(tmp_path):
    "Under 2 gloo processes each rank draws its own unlabelled images (before: both drew the same batches)."
    two_ranks(semi_rank_worker, str(tmp_path))
    ranks = [torch.load(tmp_path/f'rank{r}.pt') for r in range(2)]
    assert [len(r['drawn']) for r in ranks] == [6, 6] and ranks[0]['drawn'][0].shape == (10, 1, 28, 28)
    images = [{bytes(x.numpy()) for batch in r['drawn'] for x in batch} for r in ranks]
    assert len(images[0]) > 50 and not images[0] & images[1]      # no unlabelled image is drawn by both ranks
    for k, v in ranks[0]['state'].items(): assert torch.equal(v, ranks[1]['state'][k]), k   # one model all the same

def semi_trainer(out, **kw)->Trainer:
    cfg = TrainConfig(out=str(out), **{**TINY_SEMI, **kw})
    seed_everything(cfg.seed)
    return Trainer(cfg, log=lambda s: None)

def test_unlabelled_stream_resumes_exactly_with_workers(tmp_path, quick_epochs):
    """With 2 loader workers and augmentation, a run cut mid-epoch and resumed draws the very unlabelled images (shifts
    included) of the uninterrupted run (before: the workers' RNGs restarted, so the augmentation differed)."""
    straight = semi_trainer(tmp_path/'straight', workers=2)
    assert straight.runtime.workers == 2 and straight.unlabelled_loader.num_workers == 2
    drawn = recording(straight)
    straight.fit()
    cut = semi_trainer(tmp_path/'cut', workers=2)
    first = recording(cut)
    cut.fit(max_steps=4)                                            # stopped in the middle of epoch 2
    resumed = semi_trainer(tmp_path/'cut', workers=2, resume=str(tmp_path/'cut'))
    rest = recording(resumed)
    resumed.fit()
    assert len(drawn) == 6 and (len(first), len(rest)) == (4, 2)
    close_workers(*(loader for t in (straight, cut, resumed)
                    for loader in (t.train_loader, t.test_loader, t.unlabelled_loader)))
    for a, b in zip(drawn, first + rest): assert torch.equal(a, b)
