"""Evaluate the reference digit models for nbs/14c_robustness.ipynb: corruption errors and FGSM accuracy, seed by seed.

1. Corrupts the 1,000 test digits under the 15 corruptions at 5 severities into a cache folder (`cache_corruptions`,
   with worker processes) and records how long each corruption took in `robustness/corruption_speed.json`.
2. For each seed, runs `gradaug-robustness` on that seed's baseline, GradAug and GradAug* checkpoints with that cache,
   the baseline of the seed normalising the CEs, writing corruptions.csv, attacks.csv, summary.md and the two plots
   into nbs/_reference_models/robustness/seed{seed}/ (the notebook reads the CSVs).

    python tools/evaluate_reference_models.py [--seeds 0 1 2 3 4] [--workers 2] [--cache /tmp/gradaug-digits-c]

(default: every seed with models in nbs/_reference_models/)
"""
import argparse, json, os, platform, subprocess, sys, time
from pathlib import Path
from gradaug.corruptions import CORRUPTIONS, SEVERITIES, cache_corruptions, raw_test_set

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT/'nbs'/'_reference_models'
RECIPES = ('baseline', 'gradaug', 'gradaug_mixup')

def measure(cache:Path, workers:int)->dict:
    "Build the cache and time it: images per second, overall and for each corruption (over its five severities)."
    base = raw_test_set('digits')
    seconds = cache_corruptions(base, cache, workers=workers)
    per_corruption = {c: sum(seconds[c, s] for s in SEVERITIES) for c in CORRUPTIONS}
    total = sum(per_corruption.values())
    per_second = {c: len(base) * len(SEVERITIES) / t for c, t in per_corruption.items() if t}
    return dict(images=len(base) * len(SEVERITIES) * len(CORRUPTIONS), workers=workers, cpus=os.cpu_count(),
                machine=platform.machine(), seconds=total, images_per_second=len(per_second) and
                len(base) * len(SEVERITIES) * len(per_second) / total, images_per_second_by_corruption=per_second)

def evaluate_seed(seed:int, cache:str, out:Path)->float:
    "Run gradaug-robustness on the three models of `seed`; the seconds it took."
    checkpoints = [str(MODELS/f'{recipe}-s{seed}.pt') for recipe in RECIPES]
    command = [str(Path(sys.executable).with_name('gradaug-robustness')), *checkpoints, '--out', str(out/f'seed{seed}'),
               '--cache', cache, '--baseline', f'baseline-s{seed}']
    t0 = time.time()
    subprocess.run(command, check=True)
    return time.time() - t0

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    seeds = sorted({int(p.stem.rsplit('-s', 1)[1]) for p in MODELS.glob('baseline-s*.pt')})
    p.add_argument('--seeds', type=int, nargs='*', default=seeds)
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--cache', default='/tmp/gradaug-digits-c')
    p.add_argument('--out', default=str(MODELS/'robustness'))
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    speed = measure(Path(a.cache), a.workers)
    if speed['seconds']: (out/'corruption_speed.json').write_text(json.dumps(speed, indent=1))
    for seed in a.seeds: print(f"seed {seed}: {evaluate_seed(seed, a.cache, out):.0f} s", flush=True)
