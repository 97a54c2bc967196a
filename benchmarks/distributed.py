#!/usr/bin/env python
"""GradAug under DDP on CPU (gloo): step time of 1 process vs 2 on the same global batch, and the share of the step
spent in gradient communication with one all-reduce per step vs n+1.

    python benchmarks/distributed.py                  # WRN-10-1 on 28x28 inputs, global batch 64, n=3, 12 steps
    python benchmarks/distributed.py --model wrn16_4 --size 32 --batch 64 --steps 8

Modes, each a fresh set of processes (1 thread each), the same seeded batches, `GradAug(n, alpha=0.8)` with random
scale, an SGD step after each GradAug step:
- 1 process   : the whole global batch in one process, no DDP;
- 2 x once    : 2 processes, half the batch each, `GradAug(ddp_model)`: forwards skip DDP's reducer, one bucketed
                all-reduce of the gradients (and BN buffers) after the last backward: what gradaug does;
- 2 x reducer : 2 processes, DDP's own reducer with `no_sync=ddp.no_sync` on all passes but the last (which slices
                weights inside autograd so that the reducer sees them): one all-reduce, during the last backward;
- 2 x n+1     : 2 processes, an all-reduce of every gradient after each of the n+1 backward passes: the
                communication plain DDP without no_sync would do (plain DDP itself fails on GradAug's sliced
                gradients, so this is emulated by all-reducing after every pass).
Step time is the median wall time of the timed steps (after 2 warm-up steps) of rank 0; communication time is the
wall time inside `torch.distributed.all_reduce` calls (for the reducer mode it runs inside backward and is not
separable, so it is not shown).
"""
from __future__ import annotations
import argparse, os, platform, socket, statistics, tempfile, time
import torch, torch.distributed as dist, torch.multiprocessing as mp
from torch import nn
from gradaug.core import GradAug
from gradaug.models import create_model
from gradaug.transforms import RandomScale

def free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def batches(args, rank:int, world:int)->list:
    "The same global batches in every mode, split by rank."
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(args.steps + 2, args.batch, args.chans, args.size, args.size, generator=g)
    ys = torch.randint(0, 10, (args.steps + 2, args.batch), generator=g)
    per = args.batch // world
    return [(x[rank*per:(rank + 1)*per], y[rank*per:(rank + 1)*per]) for x, y in zip(xs, ys)]

def worker(rank:int, world:int, mode:str, args, port:int, out:str):
    torch.set_num_threads(1)
    if world > 1: dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.manual_seed(0)
    model = create_model(args.model, num_classes=10, in_chans=args.chans)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    sizes = [args.size, args.size - 4, args.size - 8]
    ga = GradAug(net, n=args.n, alpha=0.8, transform=RandomScale(sizes, torch.Generator().manual_seed(1)),
                 generator=torch.Generator().manual_seed(2))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    comm = [0.0]
    real_all_reduce = dist.all_reduce
    def timed_all_reduce(*a, **k):
        t = time.perf_counter()
        try: return real_all_reduce(*a, **k)
        finally: comm[0] += time.perf_counter() - t
    dist.all_reduce = timed_all_reduce
    step_times, comm_times = [], []
    for i, (x, y) in enumerate(batches(args, rank, world)):
        opt.zero_grad(set_to_none=True)
        comm[0] = 0.0
        t0 = time.perf_counter()
        if mode == 'reducer': ga.step(x, y, nn.CrossEntropyLoss(), no_sync=net.no_sync)
        else:
            ga.step(x, y, nn.CrossEntropyLoss())
            for _ in range(args.n if mode == 'n+1' else 0): ga.sync_gradients()   # the other n all-reduces
        opt.step()
        if i >= 2:
            step_times.append(time.perf_counter() - t0)
            comm_times.append(comm[0])
    dist.all_reduce = real_all_reduce
    if rank == 0: torch.save(dict(step=statistics.median(step_times), comm=statistics.median(comm_times)), out)
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()

def run(mode:str, world:int, args)->dict:
    with tempfile.TemporaryDirectory() as d:
        out = f'{d}/result.pt'
        mp.spawn(worker, args=(world, mode, args, free_port(), out), nprocs=world, join=True)
        return torch.load(out)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='wrn10_1')
    p.add_argument('--size', type=int, default=28)
    p.add_argument('--chans', type=int, default=1)
    p.add_argument('--batch', type=int, default=64, help='global batch')
    p.add_argument('--n', type=int, default=3)
    p.add_argument('--steps', type=int, default=12)
    args = p.parse_args()
    print(f"{args.model}, {args.size}px, global batch {args.batch}, n={args.n}, {args.steps} timed steps; "
          f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, gloo")
    modes = [('1 process', 'once', 1), ('2 x once', 'once', 2), ('2 x reducer', 'reducer', 2), ('2 x n+1', 'n+1', 2)]
    results = {name: run(mode, world, args) for name, mode, world in modes}
    base = results['1 process']['step']
    print(f"{'mode':<12} {'step s':>8} {'vs 1 proc':>10} {'comm s':>8} {'comm share':>11} {'all-reduces/step':>17}")
    per_step = {'1 process': 0, '2 x once': 1, '2 x reducer': 1, '2 x n+1': args.n + 1}
    for name, r in results.items():
        comm = '' if name in ('1 process', '2 x reducer') else f"{r['comm']:8.3f}"
        share = '' if name in ('1 process', '2 x reducer') else f"{100*r['comm']/r['step']:10.1f}%"
        print(f"{name:<12} {r['step']:8.3f} {r['step']/base:9.2f}x {comm:>8} {share:>11} {per_step[name]:>17}")

if __name__ == '__main__': main()
