"""Run `python -m gradaug` ($GRADAUG_TEST_MODULE: `gradaug.detect` for tests/test_detect_distributed.py) under
torchrun (as `tests/test_distributed.py` launches it) twice in one worker group,
so that one torchrun launch serves every check: run `straight` (uninterrupted), then run `restarted`, in which rank 1
dies (os._exit) before the optimizer step of its step $GRADAUG_TEST_DIE_AT+1 on the first attempt of the worker group only
(TORCHELASTIC_RESTART_COUNT=0); torchrun then restarts both ranks, which skip the finished `straight` run and resume
`restarted` from its last checkpoint. Each rank dumps each run's final weights and history to $GRADAUG_TEST_DUMP.
The worker joins the process group with `init_distributed` (what `train()` would do) before the first run, and
`train()` uses that group for both runs (one rendezvous per attempt instead of one per run)."""
import os, runpy, sys
from pathlib import Path
import torch
import gradaug.train
from gradaug.distributed import init_distributed

dump, die_at = Path(os.environ['GRADAUG_TEST_DUMP']), int(os.environ.get('GRADAUG_TEST_DIE_AT', -1))
module = os.environ.get('GRADAUG_TEST_MODULE', 'gradaug')
rank, attempt = int(os.environ['RANK']), int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
settings = sys.argv[1:]
fit, optimizer_step = gradaug.train.Trainer.fit, gradaug.train.Trainer._optimizer_step   # DetectTrainer's too
current = {'run': None}

def dumping_fit(self, *args, **kwargs):
    summary = fit(self, *args, **kwargs)
    torch.save(dict(model=self.model.state_dict(), history=self.history, steps=self.global_step),
               dump/f"{current['run']}-rank{rank}-attempt{attempt}.pt")
    return summary

def dying_optimizer_step(self):
    if current['run'] == 'restarted' and rank == 1 and attempt == 0 and self.global_step == die_at: os._exit(3)
    return optimizer_step(self)

gradaug.train.Trainer.fit, gradaug.train.Trainer._optimizer_step = dumping_fit, dying_optimizer_step
init_distributed(torch.device('cpu'))
for run in ['straight', 'restarted']:
    if run == 'straight' and (dump/f'straight-rank{rank}-attempt0.pt').exists(): continue   # finished before the death
    current['run'] = run
    sys.argv = [module, *settings, f'out=runs/{run}']
    runpy.run_module(module, run_name='__main__')
