#!/usr/bin/env python
"""Peak memory of a GradAug step against a plain training step, each measured in its own fresh subprocess.

    python benchmarks/memory.py                     # CPU: peak RSS, both models, ~1 min
    python benchmarks/memory.py --device cuda       # CUDA: torch.cuda.max_memory_allocated (code path present, untested here)

Each variant runs in a separate `python benchmarks/memory.py --child ...` so that peaks do not mix:
- base   : the plain, unslimmed model: `--steps` steps of forward, cross-entropy, backward;
- ga d1 / ga d8 : `GradAug(model, n=3, alpha, transform=RandomScale(sizes), divisor=d).step(..., widths=W)` for the same number
           of steps, cycling the same seeded (widths, sizes) sets as benchmarks/step.py;
- naive d1 : the GradAug step inside `gradaug.slim.graph_slicing(model)` (weights sliced inside autograd), for comparison.
Gradients are set to None before each step, as `optimizer.zero_grad()` does; no optimizer (its state is the same for both).

CPU: `setup` is the current RSS (VmRSS) once the model, the GradAug wrapper and the batch exist; `peak` is `ru_maxrss` after the
steps; `step` = peak - setup is the memory the steps themselves add (activations, gradients, workspaces). Both ratios to the
baseline are printed; the target (<= 1.20x) is judged on the step memory, the stricter of the two (the peak includes ~0.3-0.5 GB
of interpreter and libraries common to both). By default the children run with MALLOC_MMAP_THRESHOLD_=65536
(`--malloc fixed`): glibc's dynamic mmap threshold otherwise keeps freed activation blocks in the heap, and a step whose tensor
shapes vary (sub-networks) fragments it: with `--malloc dynamic` the step memory of both sides varies by ~+-20% run to run. CUDA: `setup` = memory_allocated after setup, `peak` = max_memory_allocated
(reset after setup), target <= 1.05x on the step memory.
"""
from __future__ import annotations
import argparse, json, os, resource, subprocess, sys

TARGETS = {'cpu': 1.20, 'cuda': 1.05}

def vm_rss_mb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'): return int(line.split()[1])/1024
    return float('nan')

def max_rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024   # KiB on Linux

def child(args):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from contextlib import nullcontext
    from step import CONFIGS, N_SUB, make_sets, apply_patch
    apply_patch(args.patch)
    from gradaug.core import GradAug
    from gradaug.transforms import RandomScale
    from gradaug.slim import graph_slicing
    torch.set_num_threads(args.threads); torch.set_flush_denormal(True)
    dev = torch.device(args.device)
    cfg = CONFIGS[args.model]
    torch.manual_seed(0)
    model = cfg['build']().to(dev).train()
    x = torch.randn(cfg['batch'], 3, cfg['size'], cfg['size'], device=dev)
    y = torch.randint(cfg['classes'], (cfg['batch'],), device=dev)
    ce, sets = torch.nn.CrossEntropyLoss(), make_sets(cfg['alpha'], args.sets, args.seed)
    ga = None
    if args.variant != 'base':
        scale = RandomScale(cfg['sizes'], generator=torch.Generator())
        ga = GradAug(model, n=N_SUB, alpha=cfg['alpha'], transform=scale, divisor=args.divisor)
    if dev.type == 'cuda':
        torch.cuda.synchronize(); setup = torch.cuda.memory_allocated()/2**20; torch.cuda.reset_peak_memory_stats()
    else: setup, setup_max = vm_rss_mb(), max_rss_mb()
    for i in range(args.steps):
        s = sets[i % len(sets)]
        model.zero_grad(set_to_none=True)
        if ga is None: ce(model(x), y).backward()
        else:
            scale.generator.manual_seed(s['seed'])
            with (graph_slicing(model) if args.variant == 'naive' else nullcontext()):
                ga.step(x, y, ce, widths=s['widths'])
    if dev.type == 'cuda': torch.cuda.synchronize(); peak = torch.cuda.max_memory_allocated()/2**20; setup_max = setup
    else: peak = max_rss_mb()
    print(json.dumps(dict(setup=setup, setup_max=setup_max, peak=peak, end=vm_rss_mb() if dev.type == 'cpu' else torch.cuda.memory_allocated()/2**20)))

def run_child(model, variant, divisor, args):
    cmd = [sys.executable, os.path.abspath(__file__), '--child', '--model', model, '--variant', variant, '--divisor', str(divisor),
           '--steps', str(args.steps), '--threads', str(args.threads), '--device', args.device, '--sets', str(args.sets), '--seed', str(args.seed), '--patch', args.patch]
    env = dict(os.environ)
    if args.malloc == 'fixed': env['MALLOC_MMAP_THRESHOLD_'] = '65536'   # big tensors always mmap'd: RSS follows live tensors
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode: raise RuntimeError(f"child {model} {variant} d{divisor} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--models', nargs='+', default=['wrn16_4', 'resnet18'])
    p.add_argument('--steps', type=int, default=4, help='steps per subprocess (k)')
    p.add_argument('--threads', type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument('--device', default='cpu')
    p.add_argument('--sets', type=int, default=4)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--patch', default='none', help='as in step.py: a change to gradaug.slim.sliced tried by monkeypatching')
    p.add_argument('--malloc', choices=['fixed', 'dynamic'], default='fixed',
                   help="fixed: children run with MALLOC_MMAP_THRESHOLD_=65536 so RSS tracks live tensors (default); dynamic: glibc's "
                        "default, whose raised mmap threshold keeps freed blocks of varying shapes in the heap (fragmentation)")
    p.add_argument('--no-naive', dest='naive', action='store_false')
    p.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    p.add_argument('--model', help=argparse.SUPPRESS); p.add_argument('--variant', help=argparse.SUPPRESS)
    p.add_argument('--divisor', type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child: return child(args)
    dev = 'cuda' if args.device.startswith('cuda') else 'cpu'
    tgt, unit = TARGETS[dev], 'RSS' if dev == 'cpu' else 'CUDA allocated'
    variants = [('base', 1), ('leaf', 1), ('leaf', 8)] + ([('naive', 1)] if args.naive else [])
    print(f"peak {unit} in MiB, {args.steps} steps per fresh subprocess, {args.threads} threads, device {args.device}, patch {args.patch}, "
          f"malloc {args.malloc}; "
          f"step = peak - setup; target step ratio <= {tgt}")
    print(f"{'model':9s} {'variant':9s} {'setup':>8s} {'peak':>8s} {'step':>8s} {'peak x':>7s} {'step x':>7s} {'ok':>3s}")
    for m in args.models:
        base = None
        for v, d in variants:
            r = run_child(m, v, d, args)
            step = r['peak'] - r['setup']
            if base is None: base = dict(r, step=step)
            label = 'base' if v == 'base' else f"{'ga' if v == 'leaf' else 'naive'} d{d}"
            ok = '' if v == 'base' else ('yes' if step/base['step'] <= tgt else 'NO')
            print(f"{m:9s} {label:9s} {r['setup']:8.1f} {r['peak']:8.1f} {step:8.1f} {r['peak']/base['peak']:7.3f} "
                  f"{step/base['step']:7.3f} {ok:>3s}")

if __name__ == '__main__': main()
