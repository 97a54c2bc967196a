#!/usr/bin/env python
"""Paired A/B timing of one detection GradAug step against one plain detection step, normalised by their FLOP ratio.

    python benchmarks/detection.py                       # Faster R-CNN R18-FPN, 128 px, batch 4, n=3, 6 pairs
    python benchmarks/detection.py --arch maskrcnn_resnet18_fpn --pairs 4
    python benchmarks/detection.py --device cuda         # on a GPU: wall time with synchronisation

- base   : the plain, unslimmed detector: forward (its loss dict, summed), backward;
- gradaug: `DetectionGradAug(model, n, alpha).step(images, targets)` on a copy of the same weights: the full detector,
           then n sub-networks, each at its sampled width and image size (`subnet_sizes`: the detector's min_size
           scaled as 224/192/160/128).
No optimizer step is taken, so the weights never change. The sampled work is fixed: before every GradAug step its
width and size generator is re-seeded, and before every step of either kind torch's global generator (the detector's
region sampling) too. FLOPs of exactly that work are counted with `torch.utils.flop_counter.FlopCounterMode`
(convolutions and matmuls, forward and backward). Per pair (base and gradaug, in an order that alternates) the time
ratio gradaug/base; overhead = (time ratio) / (FLOP ratio). The CPU clock is process CPU time at one thread, because
wall time on a shared machine is dominated by other processes. A detector also does work that no FLOP count sees and
that does not shrink with the width (anchors, NMS, RoIAlign, loss bookkeeping), so its overhead sits above a
classifier's.
"""
from __future__ import annotations
import argparse, copy, platform, statistics, time
import torch
from torch.utils.flop_counter import FlopCounterMode
from gradaug.detection import build_detector, DetectionGradAug

SMALL = dict(rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100, rpn_batch_size_per_image=64,
             box_batch_size_per_image=64)

def batch(n:int, size:int, masks:bool, seed:int=0):
    "`n` noise images of `size` pixels with 1 to 3 bright squares each, and their targets."
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for i in range(n):
        image = torch.rand(3, size, size, generator=g)*0.2
        side = size//4
        count = 1 + i % 3
        corners = torch.randint(0, size - side, (count, 2), generator=g)
        mask = torch.zeros(count, size, size, dtype=torch.uint8)
        for k, (x0, y0) in enumerate(corners.tolist()):
            image[:, y0:y0 + side, x0:x0 + side] += 0.8
            mask[k, y0:y0 + side, x0:x0 + side] = 1
        boxes = torch.cat([corners, corners + side], 1).float()
        target = {'boxes': boxes, 'labels': torch.arange(1, count + 1)}
        if masks: target['masks'] = mask
        images.append(image)
        targets.append(target)
    return images, targets

def plain_step(model, images, targets):
    sum(model(images, targets).values()).backward()

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='fasterrcnn_resnet18_fpn')
    parser.add_argument('--size', type=int, default=128, help='min_size = max_size of the detector and image side')
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--n', type=int, default=3)
    parser.add_argument('--alpha', type=float, default=0.9)
    parser.add_argument('--pairs', type=int, default=6)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--device', default='cpu')
    a = parser.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    torch.manual_seed(0)
    base = build_detector(a.arch, min_size=a.size, max_size=a.size, **SMALL).to(device)
    slimmed = copy.deepcopy(base)
    ga = DetectionGradAug(slimmed, n=a.n, alpha=a.alpha, generator=torch.Generator())
    images, targets = batch(a.batch, a.size, a.arch.startswith('mask'))
    images = [i.to(device) for i in images]
    targets = [{k: v.to(device) for k, v in t.items()} for t in targets]

    def run(kind:str):
        torch.manual_seed(1)
        if kind == 'base': plain_step(base, images, targets)
        else:
            ga.sampler.generator.manual_seed(2)
            ga.sampler.width_sampler.generator.manual_seed(2)
            ga.step(images, targets)
        for m in (base, slimmed): m.zero_grad(set_to_none=True)

    def timed(kind:str)->float:
        if device.type == 'cuda': torch.cuda.synchronize()
        start = time.perf_counter() if device.type == 'cuda' else time.process_time()
        run(kind)
        if device.type == 'cuda': torch.cuda.synchronize()
        return (time.perf_counter() if device.type == 'cuda' else time.process_time()) - start

    flops = {}
    for kind in ('base', 'gradaug'):
        with FlopCounterMode(display=False) as counter: run(kind)
        flops[kind] = counter.get_total_flops()
    ga.sampler.width_sampler.generator.manual_seed(2)
    ga.sampler.generator.manual_seed(2)
    work = ga.sampler.sample()
    for kind in ('base', 'gradaug'): timed(kind)   # warm-up
    ratios = []
    for pair in range(a.pairs):
        order = ('base', 'gradaug') if pair % 2 == 0 else ('gradaug', 'base')
        times = {kind: timed(kind) for kind in order}
        ratios.append(times['gradaug']/times['base'])
        print(f"pair {pair}: base {times['base']:.3f} s, gradaug {times['gradaug']:.3f} s", flush=True)
    flop_ratio = flops['gradaug']/flops['base']
    time_ratio = statistics.median(ratios)
    print(f"\n{a.arch}, {a.size} px, batch {a.batch}, n={a.n}, alpha={a.alpha}, {a.device} "
          f"({platform.processor() or platform.machine()}, {a.threads} thread(s)); sub-networks (width, size): "
          + ', '.join(f'({w:.3f}, {s[0]})' for w, s in work))
    print(f"FLOPs: base {flops['base']/1e9:.2f} G, gradaug {flops['gradaug']/1e9:.2f} G, ratio {flop_ratio:.3f}")
    print(f"time ratio (median of {a.pairs} pairs) {time_ratio:.3f}; overhead = time ratio / FLOP ratio "
          f"{time_ratio/flop_ratio:.3f}")

if __name__ == '__main__': main()
