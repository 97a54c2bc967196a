"""Evaluate the reference digit models for nbs/14_robustness.ipynb: corruption errors and FGSM accuracy, all seeds.

1. Corrupts the 1,000 test digits under the 15 corruptions at 5 severities into a cache folder (`cache_corruptions`,
   with worker processes) and records how long each (corruption, severity) took in `corruption_speed.json`.
2. Runs `gradaug-robustness` on every checkpoint in nbs/reference_models/ with that cache, writing corruptions.csv,
   attacks.csv, summary.md and the plots into nbs/reference_models/robustness/ (the notebook reads the CSVs).

    python tools/evaluate_reference_models.py [--workers 2] [--cache /tmp/gradaug-digits-c] [--limit N]
"""
import argparse, json, os, platform, subprocess, sys
from pathlib import Path
from gradaug.robustness import CORRUPTIONS, SEVERITIES, cache_corruptions, raw_test_set

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT/'nbs'/'reference_models'

def measure(cache:Path, workers:int, limit)->dict:
    "Build the cache and time it: images per second for each corruption (over its five severities)."
    base = raw_test_set('digits', limit=limit)
    seconds = cache_corruptions(base, cache, workers=workers)
    per_corruption = {c: sum(seconds[c, s] for s in SEVERITIES) for c in CORRUPTIONS}
    total = sum(per_corruption.values())
    return dict(images=len(base), workers=workers, cpus=os.cpu_count(), machine=platform.processor() or platform.machine(),
                seconds_total=total, images_per_second=len(base) * len(SEVERITIES) * len(CORRUPTIONS) / total if total else None,
                images_per_second_by_corruption={c: len(base) * len(SEVERITIES) / t for c, t in per_corruption.items() if t})

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--workers', type=int, default=2)
    p.add_argument('--cache', default='/tmp/gradaug-digits-c')
    p.add_argument('--limit', type=int, default=None)
    p.add_argument('--out', default=str(MODELS/'robustness'))
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    speed = measure(Path(a.cache), a.workers, a.limit)
    if speed['seconds_total']: (out/'corruption_speed.json').write_text(json.dumps(speed, indent=1))
    print(json.dumps(speed, indent=1))
    checkpoints = sorted(str(p) for p in MODELS.glob('*.pt'))
    command = [str(Path(sys.executable).with_name('gradaug-robustness')), *checkpoints, '--out', str(out),
               '--cache', a.cache, '--baseline', 'baseline-s0'] + (['--limit', str(a.limit)] if a.limit else [])
    subprocess.run(command, check=True)
