"""gradaug-train under torchrun: 2 CPU processes (gloo) on the digits.

One launch of torchrun's elastic agent (max_restarts=1; `launch` in tests/torchrun_worker.py: the agent in this
process, the ranks forked from it) runs one uninterrupted run and then one whose rank 1 dies once, restarted by the
agent: both finish, the ranks agree, the restarted run ends with the same weights, the reported accuracy is that of one
process evaluating the same weights, and resuming with another number of processes is refused. (One launch for every
check: each attempt of a launch is a rendezvous and a start of every rank.)"""
from pathlib import Path
import pytest, torch
from gradaug.checkpoint import load_model
from gradaug.loaders import get_test_loader
from gradaug.metrics import evaluate
from torchrun_worker import launch

# 2 epochs of 6 global steps (2 x 8 images), a checkpoint every 4 steps; rank 1 dies before step 11 (epoch 2)
SETTINGS = ['epochs=2', 'steps_per_epoch=6', 'batch_size=8', 'n=2', 'progress=false', 'threads=1',
            'checkpoint_every=4', 'eval_batch_size=500']
DIE_AT = 10


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The folder and the completed torchrun launch that ran the uninterrupted run and the restarted one."
    tmp = tmp_path_factory.mktemp('torchrun')
    return tmp, launch(tmp, SETTINGS, die_at=DIE_AT, max_restarts=1)

def dumps(tmp:Path, name:str, attempt:int)->list:
    return [torch.load(tmp/'dumps'/f'{name}-rank{r}-attempt{attempt}.pt') for r in range(2)]

def test_smoke_run_ranks_agree(runs):
    tmp, launch = runs
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert sorted(p.name for p in (tmp/'runs').iterdir()) == ['restarted', 'straight']   # one folder per run
    assert 'global batch 16 (8 per process x 2 processes)' in launch.stdout
    assert '; 1,000 test images' in launch.stdout               # the whole test set, not rank 0's 500
    assert launch.stdout.count('final test top-1') == 2        # one report per run: rank 0 reports, rank 1 does not
    assert 'images drawn in 12 steps: 192 labelled' in launch.stdout       # 12 steps x 8 images x 2 processes
    assert ('continue:   torchrun --standalone --nproc-per-node=2 --no-python gradaug-train resume=runs/straight '
            'epochs=N') in launch.stdout, launch.stdout                    # as many processes as wrote it
    ranks = dumps(tmp, 'straight', 0)
    assert ranks[0]['steps'] == 12
    for k, v in ranks[0]['model'].items(): torch.testing.assert_close(v, ranks[1]['model'][k], rtol=0, atol=0)

def test_rank_dies_and_restart_resumes_exactly(runs):
    tmp, launch = runs
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert not (tmp/'dumps'/'restarted-rank0-attempt0.pt').exists()        # the first attempt did not finish
    assert not (tmp/'dumps'/'straight-rank0-attempt1.pt').exists()         # the restart did not rerun `straight`
    assert 'resuming runs/restarted at epoch 2 of 2, step 8' in launch.stdout
    # the survivor of the death says so in one line (no gloo traceback) before torchrun restarts the group
    assert 'gradaug-train: error: process 0 of 2: another process of the run stopped' in launch.stderr, launch.stderr
    assert 'Traceback' not in launch.stderr, launch.stderr[-3000:]
    final, reference = dumps(tmp, 'restarted', 1)[0], dumps(tmp, 'straight', 0)[0]
    for k, v in final['model'].items(): torch.testing.assert_close(v, reference['model'][k], rtol=0, atol=0)

def test_distributed_eval_equals_one_process(runs):
    tmp = runs[0]
    reported = dumps(tmp, 'straight', 0)[0]['history'][-1]
    model, cfg = load_model(tmp/'runs'/'straight')
    alone = evaluate(model, get_test_loader('digits', 1000))
    assert reported['test_top1'] == alone['top1'] and reported['test_top5'] == alone['top5']
    assert reported['test_loss'] == pytest.approx(alone['loss'], rel=1e-6)

def test_resume_with_another_world_size_refused(runs, cli):
    tmp = runs[0]
    res = cli(f"resume={tmp/'runs'/'straight'}", 'epochs=3', 'threads=1', 'progress=false')
    assert res.returncode != 0
    assert 'was written by a run of 2 processes, but this one has 1' in res.stderr + res.stdout

def test_slurm_environment_parsing():
    from gradaug.distributed import DistributedError, dist_env
    slurm = dict(SLURM_PROCID='3', SLURM_NTASKS='4', SLURM_LOCALID='1', MASTER_ADDR='n0', MASTER_PORT='29500')
    env = dist_env(slurm)
    assert (env.rank, env.world_size, env.local_rank, env.launcher) == (3, 4, 1, 'slurm')
    with pytest.raises(DistributedError, match='MASTER_PORT is not set'):
        dist_env({k: v for k, v in slurm.items() if k != 'MASTER_PORT'})
