"""Run `python -m gradaug.train` under torchrun (as `tests/test_distributed.py` launches it), with two test hooks:
each rank dumps its final weights and history to $GRADAUG_TEST_DUMP, and with $GRADAUG_TEST_DIE_AT=k rank 1 dies
(os._exit) before its step k+1 on the first attempt of the worker group only (TORCHELASTIC_RESTART_COUNT=0)."""
import os, runpy
import torch
import gradaug.train

dump, die_at = os.environ['GRADAUG_TEST_DUMP'], int(os.environ.get('GRADAUG_TEST_DIE_AT', -1))
rank, attempt = int(os.environ['RANK']), int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
fit, step = gradaug.train.Trainer.fit, gradaug.train.Trainer._step

def dumping_fit(self, *args, **kwargs):
    summary = fit(self, *args, **kwargs)
    torch.save(dict(model=self.model.state_dict(), history=self.history, steps=self.global_step),
               f'{dump}/rank{rank}-attempt{attempt}.pt')
    return summary

def dying_step(self, x, y):
    if rank == 1 and attempt == 0 and self.global_step == die_at: os._exit(3)
    return step(self, x, y)

gradaug.train.Trainer.fit, gradaug.train.Trainer._step = dumping_fit, dying_step
runpy.run_module('gradaug.train', run_name='__main__')
