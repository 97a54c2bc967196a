"""Regenerate the GradAug-semi numbers of nbs/tutorials/low_label_digits.ipynb: paired seeds on 500 labelled digits.

Each recipe is a shipped config, run with `gradaug.train.train` (what `gradaug-train --config NAME seed=S ...` runs),
for seeds 0..N-1, in a setting (a training length); seed s fixes the labelled split, the initialisation and the batch
order, so the runs of one seed are paired across recipes. Every finished run is appended at once to the CSV (with the
command that repeats it, its wall-clock and CPU seconds), and runs already in the CSV are skipped, so an interrupted
sweep continues where it stopped.

    python experiments/semi_digits.py [--setting '160 steps'] [--recipes ...] [--seeds 8] [--workers 2]
"""
import argparse, csv, multiprocessing as mp, platform, tempfile, time
from pathlib import Path

SETTINGS = {   # setting -> overrides of the shipped configs (their own length: 4 epochs x 40 steps)
    '160 steps': [],
    '480 steps': ['epochs=12'],
}
RECIPES = {   # recipe -> (shipped config, overrides)
    'baseline': ('digits_500labels_baseline', []),
    'GradAug': ('digits_500labels_gradaug', []),
    'GradAug-semi': ('digits_semi', []),
    'GradAug-semi, BN counts unlabelled': ('digits_semi', ['semi_bn_update=true']),
    'GradAug-semi, ramp-up': ('digits_semi', ['semi_rampup=4']),   # a third of the 480 steps (beyond the paper)
}
FIELDS = ['setting', 'recipe', 'seed', 'top1', 'seconds', 'command', 'torch', 'machine', 'cpu_seconds']

def command(setting:str, recipe:str, seed:int)->str:
    config, overrides = RECIPES[recipe]
    return ' '.join(['gradaug-train', '--config', config, f'seed={seed}', *SETTINGS[setting], *overrides])

def run(job:tuple)->dict:
    "Train one (setting, recipe, seed) on one CPU thread; its CSV row."
    setting, recipe, seed = job
    import torch
    from gradaug.config import load_config
    from gradaug.train import train
    config, overrides = RECIPES[recipe]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(config, SETTINGS[setting] + overrides + [f'seed={seed}', 'threads=1', 'progress=false',
                                                                   f'out={tmp}/run'])
        t0, cpu0 = time.time(), time.process_time()
        summary = train(cfg, log=lambda message: None)
    return dict(setting=setting, recipe=recipe, seed=seed, top1=summary['final_top1'],
                seconds=round(time.time() - t0, 1), command=command(setting, recipe, seed), torch=torch.__version__,
                machine=f"{platform.machine()}, {mp.cpu_count()} CPUs",
                cpu_seconds=round(time.process_time() - cpu0, 1))

def done(out:Path)->set:
    if not out.exists(): return set()
    with out.open() as f: return {(r['setting'], r['recipe'], int(r['seed'])) for r in csv.DictReader(f)}

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--setting', default='160 steps', choices=list(SETTINGS))
    p.add_argument('--recipes', nargs='*', default=list(RECIPES)[:4], choices=list(RECIPES))
    p.add_argument('--seeds', type=int, default=8)
    p.add_argument('--workers', type=int, default=2, help='runs at a time, one CPU thread each')
    p.add_argument('--out', default='nbs/tutorials/semi_digits.csv')
    a = p.parse_args()
    out = Path(a.out)
    main, extra = a.recipes[:3], a.recipes[3:]   # the variants' runs come after every seed of the first three
    jobs = [(a.setting, r, s) for s in range(a.seeds) for r in main] + \
           [(a.setting, r, s) for r in extra for s in range(a.seeds)]
    jobs = [job for job in jobs if job not in done(out)]
    new = not out.exists()
    with out.open('a', newline='') as f, mp.get_context('spawn').Pool(a.workers, maxtasksperchild=1) as pool:
        writer = csv.DictWriter(f, FIELDS)
        if new: writer.writeheader()
        for i, row in enumerate(pool.imap_unordered(run, jobs), 1):
            writer.writerow(row); f.flush()
            print(f"[{i}/{len(jobs)}] {row['setting']}, {row['recipe']:36s} seed {row['seed']}: {row['top1']:.2f}% "
                  f"({row['seconds']:.0f} s, {row['cpu_seconds']:.0f} s CPU)", flush=True)
