#!/usr/bin/env python
"""Paired A/B timing of one GradAug step against one plain training step, normalised by the FLOPs of the same work.

    python benchmarks/step.py                       # both models, divisor 1 and 8, 12 pairs, 2 threads (~3-4 min on 2 cores)
    python benchmarks/step.py --models wrn16_4 --pairs 20 --threads 1
    python benchmarks/step.py --profile             # also: where the time goes, by op category (torch.profiler)

What is compared, per model and per `divisor` (the channel rounding of `gradaug.slim`):
- base  : the plain, *unslimmed* model: forward, cross-entropy, backward (`--baseline slim` uses a slimmed copy at width 1 instead);
- leaf  : `GradAug(model, n=3, alpha, transform=RandomScale(sizes)).step(x, y, ce, widths=W)`, the library as shipped
          (sub-network weights are sliced into detached leaves whose gradient is added into `p.grad` by a hook);
- naive : the same step inside `gradaug.slim.graph_slicing(model)`: weights sliced inside autograd (`p[:o, :i]`), so every
          sub-network backward materialises a full-size zero gradient per parameter; what the leaf slicing buys.
Both GradAug variants start from a copy of the baseline's weights; no optimizer step is taken, so weights never change.

The sampled work is fixed and seeded: `--sets` (widths, sizes) sets are drawn once with `torch.Generator().manual_seed(--seed)`:
widths from `WidthSampler(3, alpha)` (sandwich rule: alpha always, the others uniform in [alpha, 1]), sizes from
`RandomScale(sizes)` whose generator is re-seeded with the set's own seed before every step (so each sub-network sees the same
size on every run of that set). Pair i uses set i % sets for base, leaf and naive alike. The FLOPs of each set are counted with
`torch.utils.flop_counter.FlopCounterMode` (convs and matmuls, forward + backward) on exactly that work.

Per pair (one round of base, leaf, naive, in an order rotated every round) we take the time ratio leaf/base and naive/base;
overhead = (time ratio) / (FLOP ratio of that pair's set). The table shows medians over pairs (time ratio, overhead) and the mean
FLOP ratio over the pairs. Targets on the overhead: <= 1.15 at divisor 1, <= 1.08 at divisor 8.
"""
from __future__ import annotations
import argparse, copy, os, platform, statistics, sys, time
from collections import defaultdict
from contextlib import nullcontext, contextmanager
import torch, torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from gradaug.models import create_model
from gradaug.core import GradAug
from gradaug.sampler import WidthSampler
from gradaug.transforms import RandomScale
from gradaug.slim import graph_slicing, slim, extract
from gradaug.bn import bn_batch_stats
import torch.nn.functional as F

import gradaug.slimmable as _gs
_ORIG_SLICED = _gs.sliced
CONFIGS = {  # the paper's recipes: CIFAR (alpha 0.8, 32/28/24) and ImageNet ratios (alpha 0.9, 224/192/160/128 -> 128/112/96/80)
    'wrn16_4':  dict(build=lambda: create_model('wrn16_4', num_classes=100), classes=100, batch=32, size=32, alpha=0.8, sizes=[32, 28, 24]),
    'resnet18': dict(build=lambda: torchvision.models.resnet18(num_classes=1000), classes=1000, batch=16, size=128, alpha=0.9,
                     sizes=[128, 112, 96, 80]),
    # concatenations: slimmed along traced channel dependencies (gathered weights), issue 23
    'densenet121': dict(build=lambda: torchvision.models.densenet121(num_classes=10), classes=10, batch=8, size=64,
                        alpha=0.8, sizes=[64, 56, 48], default=False),
    # a transformer: only the MLP hidden width shrinks (MatFormer-style); torchvision's ViT takes one image size only
    'vit_b16': dict(build=lambda: torchvision.models.vit_b_16(image_size=64, num_classes=10), classes=10, batch=8, size=64,
                    alpha=0.8, sizes=[64], default=False),
}
TARGETS = {1: 1.15, 8: 1.08}
N_SUB = 3

class RecordingScale(RandomScale):
    "`RandomScale` that remembers the sizes it produced (to print the sampled work)."
    def __init__(self, sizes, generator): super().__init__(sizes, generator); self.seen = []
    def __call__(self, x):
        out = super().__call__(x); self.seen.append(out.shape[-1]); return out

# ---------------------------------------------------------------- candidate changes to gradaug.slimmable.sliced, tested by monkeypatching
def make_sliced(postacc=False, gradview=False, nocopy=False):
    "A replacement for `gradaug.slimmable.sliced` (same contract: `p[idx]` whose gradient is added into `p.grad[idx]`)."
    def sliced(p, idx, through_graph=False):
        sub = p[idx]
        if sub.shape == p.shape: return p
        if through_graph or not (p.requires_grad and torch.is_grad_enabled()): return sub
        leaf = sub.detach() if nocopy else sub.detach().contiguous()   # nocopy: a strided view, conv copies it transiently
        leaf.requires_grad_()
        if gradview:    # AccumulateGrad adds in place into leaf.grad, a view of p.grad: no hook, no extra gradient tensor
            if p.grad is None: p.grad = torch.zeros_like(p)
            leaf.grad = p.grad[idx]
        elif postacc:   # accumulate after AccumulateGrad, then drop the leaf's own gradient at once
            def _accumulate(t):
                if p.grad is None: p.grad = torch.zeros_like(p)
                p.grad[idx] += t.grad; t.grad = None
            leaf.register_post_accumulate_grad_hook(_accumulate)
        else:
            def _accumulate(g):
                if p.grad is None: p.grad = torch.zeros_like(p)
                p.grad[idx] += g
            leaf.register_hook(_accumulate)
        return leaf
    return sliced

@contextmanager
def patched(spec:str):
    "Context manager: `gradaug.slimmable.sliced` replaced per `spec` (see `apply_patch`) for the block."
    import gradaug.slimmable as gs
    orig = gs.sliced
    apply_patch(spec)
    try: yield
    finally: gs.sliced = orig

def apply_patch(spec:str):
    "`spec`: 'none' or a comma list of postacc, gradview, nocopy; patches `gradaug.slimmable.sliced` in this process."
    import gradaug.slimmable as gs
    if spec in (None, '', 'none'): return
    opts = set(spec.split(','))
    bad = opts - {'postacc', 'gradview', 'nocopy'}
    if bad: raise SystemExit(f"--patch: unknown {sorted(bad)}; use none or a comma list of postacc, gradview, nocopy")
    gs.sliced = make_sliced(**{o: True for o in opts})

def make_sets(alpha, k, seed):
    "`k` (widths, transform seed) sets from one seeded generator."
    g = torch.Generator().manual_seed(seed)
    sampler = WidthSampler(N_SUB, alpha, generator=g)
    return [dict(widths=[round(w, 4) for w in sampler.sample()], seed=int(torch.randint(2**31, (1,), generator=g))) for _ in range(k)]

def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize()

class Bench:
    "The three step variants of one (model, divisor), sharing inputs and initial weights."
    def __init__(self, name, divisor, device, baseline='plain', patch='none'):
        self.patch = patch
        cfg = CONFIGS[name]
        torch.manual_seed(0)
        plain = cfg['build']().to(device).train()
        self.ga_model = copy.deepcopy(plain)
        self.base = plain if baseline == 'plain' else slim(copy.deepcopy(plain), divisor=divisor)
        self.scale = RecordingScale(cfg['sizes'], torch.Generator())
        self.ga = GradAug(self.ga_model, n=N_SUB, alpha=cfg['alpha'], transform=self.scale, divisor=divisor)
        self.x = torch.randn(cfg['batch'], 3, cfg['size'], cfg['size'], device=device)
        self.y = torch.randint(cfg['classes'], (cfg['batch'],), device=device)
        self.ce, self.device, self._oracle = nn.CrossEntropyLoss(), device, {}

    def run(self, variant, s):
        "One step of `variant` on set `s` (gradients cleared first, outside any timing)."
        for m in (self.base, self.ga_model, *(n for nets in self._oracle.values() for n in nets)): m.zero_grad(set_to_none=True)
        return lambda: self._step(variant, s)

    def _step(self, variant, s):
        if variant == 'base':
            self.ce(self.base(self.x), self.y).backward(); return
        if variant == 'oracle': return self._oracle_step(s)
        self.scale.generator.manual_seed(s['seed'])
        with (graph_slicing(self.ga_model) if variant == 'naive' else patched(self.patch) if variant == 'patched' else nullcontext()):
            self.ga.step(self.x, self.y, self.ce, widths=s['widths'])

    def timed(self, variant, s):
        "(wall seconds, process CPU seconds) of one step."
        fn = self.run(variant, s)
        sync(self.device); t, c = time.perf_counter(), time.process_time(); fn(); sync(self.device)
        return time.perf_counter() - t, time.process_time() - c

    def oracle_nets(self, s):
        "Plain standalone copies of the sub-networks of set `s` (`gradaug.slim.extract`), made once per set."
        key = tuple(s['widths'])
        if key not in self._oracle:
            self._oracle[key] = [extract(self.ga_model, w) for w in s['widths']]
        return self._oracle[key]

    def _oracle_step(self, s):
        "The same work with no slicing at all: full plain model, then pre-extracted plain sub-networks (own gradients)."
        out = self.base(self.x); self.ce(out, self.y).backward()
        soft = out.detach()
        for net, size in zip(self.oracle_nets(s), s['sizes']):
            xi = self.x if size == self.x.shape[-1] else F.interpolate(self.x, size=(size, size), mode='bilinear', align_corners=True)
            with bn_batch_stats(net): self.ga.soft_loss(net(xi), soft).backward()

    def flops(self, variant, s):
        fn = self.run(variant, s)
        self.scale.seen = []
        with FlopCounterMode(display=False) as fc: fn()
        return fc.get_total_flops(), list(self.scale.seen)


def measure(name, divisor, args, device):
    b = Bench(name, divisor, device, args.baseline, args.patch)
    sets = make_sets(CONFIGS[name]['alpha'], args.sets, args.seed)
    base_flops, _ = b.flops('base', sets[0])
    for s in sets:
        f, s['sizes'] = b.flops('leaf', s)
        s['flop_ratio'] = f/base_flops
        if args.check_flops: assert b.flops('naive', s)[0] == f, 'naive and leaf slicing must count the same FLOPs'
    variants = variants_of(args)
    for _ in range(args.warmup):            # base once, every set once for the others: oneDNN builds a primitive per new shape
        b.timed('base', sets[0])
        for s in sets:
            for v in variants[1:]: b.timed(v, s)
    times, ratios, over = defaultdict(list), defaultdict(list), defaultdict(list)
    for i in range(args.pairs):
        s = sets[i % len(sets)]
        order = variants[i % len(variants):] + variants[:i % len(variants)]   # rotate: no variant always runs first
        t = {v: b.timed(v, s) for v in order}
        for v in variants:
            for k, clock in enumerate(('wall', 'cpu')):
                times[v, clock].append(t[v][k])
                if v != 'base':
                    ratios[v, clock].append(t[v][k]/t['base'][k]); over[v, clock].append(t[v][k]/t['base'][k]/s['flop_ratio'])
    med, c = statistics.median, args.clock
    q = lambda xs, j: statistics.quantiles(xs, n=4)[j] if len(xs) > 1 else xs[0]
    row = dict(model=name, divisor=divisor, batch=CONFIGS[name]['batch'], sets=sets,
               base_ms=1e3*med(times['base', c]), base_gflop=base_flops/1e9,
               flop_ratio=statistics.fmean(sets[i % len(sets)]['flop_ratio'] for i in range(args.pairs)))
    other = 'wall' if c == 'cpu' else 'cpu'
    for k, st in enumerate(sets):
        st['overhead'] = med([o for i, o in enumerate(over['leaf', c]) if i % len(sets) == k] or [float('nan')])
    if 'oracle' in variants:   # paired: GradAug's step over the same work on pre-extracted plain sub-networks
        row['vs_oracle'] = med([a/b for a, b in zip(ratios['leaf', c], ratios['oracle', c])])
    for v in variants[1:]:
        row[v] = dict(ms=1e3*med(times[v, c]), ratio=med(ratios[v, c]), overhead=med(over[v, c]),
                      q1=q(over[v, c], 0), q3=q(over[v, c], 2), other=med(over[v, other]))
    if args.profile: profile(b, sets[0], args)
    return row

def variants_of(args):
    return (('base', 'leaf') + (('naive',) if args.naive else ()) + (('oracle',) if args.oracle else ())
            + (('patched',) if args.patch not in ('', 'none') else ()))
    return row

# ---------------------------------------------------------------- profile: where the time goes, by op category
CATEGORIES = [  # (category, substrings of aten op names), first match wins
    ('conv/matmul fwd', ('mkldnn_convolution', 'thnn_conv', 'slow_conv', 'cudnn_convolution', 'aten::addmm', 'aten::mm', 'aten::_convolution')),
    ('conv bwd',        ('convolution_backward',)),
    ('batch norm',      ('batch_norm',)),
    ('interpolate',     ('upsample',)),
    ('copy/alloc',      ('copy_', 'clone', 'contiguous', 'empty', 'zeros', 'zero_', 'fill_', 'resize_')),
    ('elementwise',     ('relu', 'threshold', 'aten::add', 'aten::mul', 'aten::div', 'aten::sum', 'clamp')),
    ('pool',            ('pool', 'aten::mean')),
    ('loss',            ('softmax', 'kl_div', 'nll_loss', 'cross_entropy', 'aten::exp', 'aten::log', 'aten::sub')),
]

def categorize(key):
    for cat, keys in CATEGORIES:
        if any(k in key for k in keys): return cat
    return 'other (python/autograd/views)'

def profile_one(b, variant, s, reps):
    from torch.profiler import profile as tprofile, ProfilerActivity
    for _ in range(2): b.run(variant, s)()
    tot = defaultdict(float); ops = defaultdict(float)
    t0 = time.perf_counter()
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(reps):
            b.run(variant, s)()
    wall = (time.perf_counter() - t0)/reps
    for e in prof.key_averages():
        tot[categorize(e.key)] += e.self_cpu_time_total/reps
        ops[e.key] += e.self_cpu_time_total/reps
    return wall, tot, ops

def profile(b, s, args):
    "Self CPU time per op category, base vs leaf vs naive, on set `s` (profiler on: absolute times are inflated)."
    res = {v: profile_one(b, v, s, args.profile_reps) for v in variants_of(args)}
    cats = sorted({c for _, t, _ in res.values() for c in t}, key=lambda c: -res['leaf'][1].get(c, 0))
    print(f"\n  profile, set widths={s['widths']} sizes={s['sizes']} FLOP ratio {s['flop_ratio']:.3f}: self CPU ms per step "
          f"(threads summed where ops run in parallel)")
    print(f"  {'category':32s}" + ''.join(f"{v:>10s}" for v in res) + ''.join(f"{v + '/base':>13s}" for v in res if v != 'base'))
    for c in cats:
        vals = [res[v][1].get(c, 0)/1e3 for v in res]
        r = lambda v: (res[v][1].get(c, 0)/res['base'][1][c]) if res['base'][1].get(c) else float('nan')
        print(f"  {c:32s}" + ''.join(f"{x:10.1f}" for x in vals) + ''.join(f"{r(v):13.2f}" for v in res if v != 'base'))
    print(f"  {'TOTAL self CPU':32s}" + ''.join(f"{sum(res[v][1].values())/1e3:10.1f}" for v in res))
    print(f"  {'wall (profiler on)':32s}" + ''.join(f"{res[v][0]*1e3:10.1f}" for v in res))
    extra = {k: res['leaf'][2][k] - s['flop_ratio']*res['base'][2].get(k, 0) for k in res['leaf'][2]}
    print("  ops with the most leaf time beyond FLOP-ratio x base (ms/step):",
          ', '.join(f"{k} {v/1e3:+.1f}" for k, v in sorted(extra.items(), key=lambda kv: -kv[1])[:8]))

# ---------------------------------------------------------------- main
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--models', nargs='+', default=[n for n, c in CONFIGS.items() if c.get('default', True)], choices=list(CONFIGS))
    p.add_argument('--divisors', nargs='+', type=int, default=[1, 8])
    p.add_argument('--pairs', type=int, default=10, help='measured rounds (base, leaf, naive) per model and divisor; >= 10')
    p.add_argument('--warmup', type=int, default=1, help='warm-up rounds over every set before measuring')
    p.add_argument('--sets', type=int, default=4, help='seeded (widths, sizes) sets, cycled over the pairs')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=1, help='torch threads; 1 is the least noisy on a shared machine')
    p.add_argument('--clock', choices=['cpu', 'wall'], default='cpu',
                   help='primary clock: process CPU time (robust to other processes at 1 thread) or wall time; both are printed')
    p.add_argument('--oracle', action='store_true', help='also time pre-extracted plain sub-networks (no slicing): the ideal')
    p.add_argument('--baseline', choices=['plain', 'slim'], default='plain', help='plain model, or a slimmed copy at width 1')
    p.add_argument('--no-naive', dest='naive', action='store_false', help='skip the graph_slicing comparison')
    p.add_argument('--check-flops', action='store_true', help='also count the naive step and check it equals the leaf step')
    p.add_argument('--device', default='cpu', help='cpu (measured here) or cuda (code path present, not tested on CPU-only hosts)')
    p.add_argument('--patch', default='none', help='also time a GradAug step with gradaug.slim.sliced monkeypatched (paired, as a '
                   'fourth variant): none, or a comma list of postacc, gradview, nocopy')
    p.add_argument('--profile', action='store_true', help='print a torch.profiler breakdown per model and divisor')
    p.add_argument("--profile-reps", type=int, default=2)
    args = p.parse_args(argv)
    if args.patch not in ('', 'none'): apply_patch(args.patch); _gs.sliced = _ORIG_SLICED   # fail early on a bad --patch
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    device = torch.device(args.device)
    if device.type == 'cuda': torch.backends.cudnn.benchmark = True
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} threads, device {device}, load avg {os.getloadavg()[0]:.2f}; baseline = "
          f"{'plain unslimmed model' if args.baseline == 'plain' else 'slimmed copy at width 1'}; "
          f"patch {args.patch}; {args.pairs} pairs after {args.warmup} warm-up round(s) over {args.sets} seeded sets (seed {args.seed})")
    rows, t0 = [], time.perf_counter()
    for name in args.models:
        for d in args.divisors:
            rows.append(measure(name, d, args, device))
            r = rows[-1]
            print(f"\n{name} (batch {r['batch']}, alpha {CONFIGS[name]['alpha']}, sizes {CONFIGS[name]['sizes']}), divisor {d}: "
                  f"base {r['base_gflop']:.1f} GFLOP/step; sets:")
            for s in r['sets']: print(f"  widths {s['widths']} sizes {s['sizes']}  FLOP ratio {s['flop_ratio']:.3f}  "
                                      f"GA overhead {s['overhead']:.3f} ({args.clock})")
    c, o = args.clock, 'wall' if args.clock == 'cpu' else 'cpu'
    extra = [v for v in ('naive', 'oracle', 'patched') if v in variants_of(args)]
    print(f"\n{'model':9s} {'div':>3s} {'base ms':>8s} {'GA ms':>8s} {'time x':>7s} {'FLOP x':>7s} {'overhead':>8s} {'[q1, q3]':>14s} "
          f"{'target':>6s} {'ok':>3s} {o + ' ovh':>8s}" + ''.join(f" | {v + ' ms':>9s} {'ovh':>6s}" for v in extra)
          + (f" | {'GA/oracle':>9s}" if 'oracle' in extra else ''))
    for r in rows:
        lf, tgt = r['leaf'], TARGETS.get(r['divisor'])
        ok = '' if tgt is None else ('yes' if lf['overhead'] <= tgt else 'NO')
        print(f"{r['model']:9s} {r['divisor']:3d} {r['base_ms']:8.1f} {lf['ms']:8.1f} {lf['ratio']:7.3f} {r['flop_ratio']:7.3f} "
              f"{lf['overhead']:8.3f} [{lf['q1']:.3f}, {lf['q3']:.3f}] {tgt if tgt else '-':>6} {ok:>3s} {lf['other']:8.3f}"
              + ''.join(f" | {r[v]['ms']:9.1f} {r[v]['overhead']:6.3f}" for v in extra)
              + (f" | {r['vs_oracle']:9.3f}" if 'oracle' in extra else ''))
    print(f"(times: medians of {c} time; overhead = median over pairs of (GA time / base time) / FLOP ratio of the pair's set, "
          f"{c} clock; '{o} ovh' the same on the {o} clock; load avg {os.getloadavg()[0]:.2f}; {time.perf_counter()-t0:.0f} s)")
    return rows

if __name__ == '__main__': main()
