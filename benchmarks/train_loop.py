"""Throughput of `gradaug.train` on the embedded digits, on CPU.

Prints, measured side by side in this one run (no timed asserts; the numbers depend on the machine and its load):
  1. images/s of a training epoch with GradAug (n=3) and with the baseline (n=0), and their ratio;
  2. the data loader's share of the epoch time (iterating the loader alone vs the whole epoch);
  3. the overhead of the trainer's loop (`Trainer.train_batches`: device moves, one host sync per step for the
     NaN check and metrics, scheduler, progress bar) over bare `GradAug.step` + `optimizer.step()` calls on the same
     pre-loaded batches, with the same sampled widths and sizes (the augmentation generator is reset before each).

    .venv/bin/python benchmarks/train_loop.py [--rounds 5] [--batches 20] [--threads 0]
"""
import argparse, os, statistics, tempfile, time
import torch
from tqdm import tqdm
from gradaug.config import TrainConfig
from gradaug.runtime import apply_runtime, select_runtime
from gradaug.train import Trainer

def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

def epoch_time(trainer):
    "Seconds for one training epoch (no evaluation), and images seen."
    trainer.batch_in_epoch = 0
    n0 = trainer.running['images']
    dt = timed(trainer.train_epoch)
    return dt, trainer.running['images'] - n0

def loader_time(trainer):
    "Seconds to iterate the training loader alone for one epoch."
    trainer.train_loader.sampler.set_epoch(0)
    return timed(lambda: [None for _ in trainer.train_loader])

def bare_steps(trainer, batches):
    "The minimal loop: GradAug.step, optimizer step, scheduler step."
    ga, opt, sch, crit = trainer.gradaug, trainer.optimizer, trainer.scheduler, trainer.criterion
    for x, y in batches:
        opt.zero_grad(set_to_none=True)
        ga.step(x, y, crit)
        opt.step(); sch.step()

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--rounds', type=int, default=5, help='interleaved repetitions of each loop measurement')
    ap.add_argument('--batches', type=int, default=20, help='pre-loaded batches per loop measurement')
    ap.add_argument('--threads', type=int, default=0, help='CPU threads (0: idle cores)')
    args = ap.parse_args()
    out = tempfile.mkdtemp()
    configs = {n: TrainConfig(n=n, epochs=1, progress=False, threads=args.threads, out=os.path.join(out, f'n{n}'))
               for n in (3, 0)}
    apply_runtime(select_runtime(configs[3]), seed=0)
    trainers = {n: Trainer(cfg, log=lambda s: None) for n, cfg in configs.items()}
    print(f"digits, WRN-10-1, batch 64, CPU, {torch.get_num_threads()} thread(s), load average {os.getloadavg()[0]:.1f}")

    # 1 + 2: whole epochs and the loader alone, interleaved
    ep = {n: [] for n in trainers}; ld = []
    for _ in range(2):
        for n, t in trainers.items(): ep[n].append(epoch_time(t))
        ld.append(loader_time(trainers[3]))
    ips = {n: max(i / s for s, i in v) for n, v in ep.items()}
    print(f"\n1. training throughput (best of 2 epochs of {trainers[3].steps_per_epoch} steps)")
    print(f"   GradAug n=3, alpha 0.8, scale 28/24/20: {ips[3]:7.0f} images/s")
    print(f"   baseline n=0:                          {ips[0]:7.0f} images/s")
    print(f"   GradAug / baseline time per image:     {ips[0] / ips[3]:7.2f}x")
    share = {n: min(ld) / min(s for s, _ in ep[n]) for n in trainers}
    print(f"\n2. data loader share of the epoch time: {100 * share[3]:.1f}% with GradAug, {100 * share[0]:.1f}% baseline"
          f" (loader alone: {min(ld):.3f}s per epoch)")

    # 3: loop overhead on pre-loaded batches
    print(f"\n3. loop overhead: Trainer.train_batches vs bare GradAug.step calls, {args.batches} pre-loaded batches, "
          f"{args.rounds} interleaved rounds")
    for n, t in trainers.items():
        t.train_loader.sampler.set_epoch(1)
        batches = [b for _, b in zip(range(args.batches), t.train_loader)]
        g0 = t.aug_generator.get_state()
        devnull = open(os.devnull, 'w')
        def loop():
            with tqdm(total=len(batches), file=devnull) as bar: t.train_batches(batches, bar)
        bare_s, loop_s = [], []
        for _ in range(args.rounds):
            t.aug_generator.set_state(g0); bare_s.append(timed(lambda: bare_steps(t, batches)))
            t.aug_generator.set_state(g0); loop_s.append(timed(loop))
        ratios = [l / b for l, b in zip(loop_s, bare_s)]
        print(f"   n={n}: bare {statistics.median(bare_s) / len(batches) * 1e3:6.1f} ms/step, loop "
              f"{statistics.median(loop_s) / len(batches) * 1e3:6.1f} ms/step, loop/bare median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}) -> overhead {100 * (statistics.median(ratios) - 1):+.1f}%")

if __name__ == '__main__': main()
