"""What each rank runs in the torchrun tests (`launch` below; tests/test_distributed.py and
tests/test_detect_distributed.py): `python -m gradaug` (`module`: `gradaug.detect` for detection) twice in one worker
group, so that one launch serves every check: run `straight` (uninterrupted), then run `restarted`, in which rank 1
dies (os._exit) before the optimizer step of its step `die_at`+1 on the first attempt of the worker group only
(TORCHELASTIC_RESTART_COUNT=0); the elastic agent then restarts both ranks, which skip the finished `straight` run and
resume `restarted` from its last checkpoint. Each rank dumps each run's final weights and history to `dump`.
The worker joins the process group with `init_distributed` (what `train()` would do) before the first run, and
`train()` uses that group for both runs (one rendezvous per attempt instead of one per run).

`launch` is torchrun without its command line: the same elastic agent (`torch.distributed.launcher.api`, which
torchrun's `main` calls) with a c10d rendezvous on a free local port (torchrun's `--standalone`), the same environment
for the ranks (RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, TORCHELASTIC_RESTART_COUNT, ...), restarts, and
SIGTERM to the survivors of a death. The agent runs in the test's process and forks the ranks from it, so that no
rank is a new interpreter importing torch, torchvision and gradaug again (about 7 s of CPU each; the command line
would start five per launch)."""
import os, runpy, subprocess, sys, uuid
from pathlib import Path
import torch
from tools.notebook_items import ProcessState


def rank_main(folder:str, dump:str, die_at:int, module:str, settings:list):
    "One rank: both runs, from `folder` (this is a forked process: what it patches ends with it)."
    import gradaug.train
    from gradaug.distributed import init_distributed
    os.chdir(folder)
    dump, rank = Path(dump), int(os.environ['RANK'])
    attempt = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
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
        if run == 'straight' and (dump/f'straight-rank{rank}-attempt0.pt').exists(): continue   # done before the death
        current['run'] = run
        sys.argv = [module, *settings, f'out=runs/{run}']
        runpy.run_module(module, run_name='__main__')


def launch(folder:Path, settings:list, die_at:int=-1, module:str='gradaug', max_restarts:int=1
          )->subprocess.CompletedProcess:
    """2 ranks of `rank_main` under the elastic agent, from `folder`; dumps in folder/dumps. The ranks' stdout and
    stderr (every attempt, rank 0 first) as a CompletedProcess's, its returncode 1 if the launch failed."""
    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch
    (folder/'dumps').mkdir()
    logs = folder/'logs'
    # monitor_interval: how often the agent looks at its ranks (torchrun's default 0.1 s). After a death, the survivor
    # meets the broken collective within its next step, far less than 1 s here; at 0.1 s the agent's SIGTERM sometimes
    # came first, and the survivor then stopped on the signal, not on the collective that tests/test_distributed.py's
    # restart test checks the one-line message of (once in about a dozen runs of the file here)
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=2, run_id=str(uuid.uuid4()), rdzv_backend='c10d',
                          rdzv_endpoint='localhost:0', max_restarts=max_restarts, start_method='fork',
                          monitor_interval=1, logs_specs=DefaultLogsSpecs(log_dir=str(logs), redirects=Std.ALL))
    state = ProcessState()   # the agent installs its own signal handlers and sets environment variables here
    try:
        elastic_launch(config, rank_main)(str(folder), str(folder/'dumps'), die_at, module, settings)
        code = 0
    except ChildFailedError: code = 1
    finally: state.restore()
    read = lambda name: ''.join(p.read_text() for p in sorted(logs.rglob(name)))   # attempt_0/0, attempt_0/1, ...
    return subprocess.CompletedProcess('elastic_launch', code, read('stdout.log'), read('stderr.log'))
