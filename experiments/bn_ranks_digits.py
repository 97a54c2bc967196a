"""Per-rank BN vs BN over the global batch (what SyncBatchNorm would compute), digits, GradAug, CPU.

A 1-process run at global batch 2B normalises each step with the statistics of all 2B images: exactly what
SyncBatchNorm computes across 2 ranks of batch B. So we compare, per seed, 2 processes x batch B (per-rank BN, what
gradaug does) with 1 process x batch 2B, everything else equal, and report mean +- std of final test top-1 and the
paired differences. Writes experiments/results-bn-ranks-digits.txt.

    nice -n 10 .venv/bin/python experiments/bn_ranks_digits.py --seeds 0 1 2"""
import argparse, os, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP1 = re.compile(r'final test top-1 ([0-9.]+)%')

def run(procs:int, batch:int, seed:int, settings:list, tmp:Path)->float:
    "Final test top-1 of one gradaug-train run with `procs` gloo processes of `batch` images each."
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    args = [*settings, f'batch_size={batch}', f'seed={seed}', 'progress=false', f'out={tmp}/p{procs}-s{seed}']
    if procs == 1: cmd = [sys.executable, '-m', 'gradaug.train', *args, 'threads=2']
    else: cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc-per-node={procs}',
                 '-m', 'gradaug.train', *args, 'threads=1']
    res = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    found = TOP1.findall(res.stdout)
    if res.returncode != 0 or len(found) != 1: raise RuntimeError(f'{cmd} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}')
    return float(found[0])

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--batch', type=int, default=32, help='per-process batch B of the 2-process runs')
    parser.add_argument('--settings', nargs='*', default=['epochs=3', 'n=2'])
    parser.add_argument('--out', default=str(ROOT/'experiments'/'results-bn-ranks-digits.txt'))
    a = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for seed in a.seeds:
            start = time.time()
            per_rank = run(2, a.batch, seed, a.settings, Path(d))
            global_bn = run(1, 2*a.batch, seed, a.settings, Path(d))
            rows.append((seed, per_rank, global_bn))
            print(f'seed {seed}: 2 procs x {a.batch} (per-rank BN) {per_rank:.2f}%  1 proc x {2*a.batch} '
                  f'(global-batch BN = SyncBN) {global_bn:.2f}%  ({time.time() - start:.0f} s)', flush=True)
    diffs = [p - g for _, p, g in rows]
    def ms(xs): return f'{statistics.mean(xs):.2f} +- {statistics.stdev(xs) if len(xs) > 1 else 0:.2f}'
    lines = [f'BN per rank vs over the global batch; digits, gradaug-train {" ".join(a.settings)}, global batch {2*a.batch}',
             'machine: 2-core x86-64 CPU, no GPU, gloo; final test top-1 (%)', 'seed  2x per-rank BN  1x global BN  diff']
    lines += [f'{s:4d}  {p:14.2f}  {g:12.2f}  {p - g:+5.2f}' for s, p, g in rows]
    lines += [f'mean +- std: per-rank {ms([p for _, p, _ in rows])}, global (SyncBN) {ms([g for _, _, g in rows])}, '
              f'paired diff {ms(diffs)} ({len(rows)} seeds)']
    Path(a.out).write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
