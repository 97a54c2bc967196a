"""Regenerate the numbers of nbs/tutorials/low_label_digits.ipynb: GradAug and its ablations with few labels.

Trains, on 500 labelled digits (50 per class) of the embedded MNIST set, a small WideResNet with each recipe, for
several seeds, and writes the test accuracies and run times to a JSON file. Every run goes through
`gradaug.train.train`, the loop `gradaug-train` runs, so each one can be repeated from the command line; the JSON
records the command.
The recipes: baseline (n=0), RandScale only (3 sub-networks at full width on rescaled inputs), RandWidth only
(3 sub-networks of width >= alpha on the original inputs), GradAug (both), and GradAug with divisor 8.

    python experiments/low_label_digits.py [--seeds 3] [--epochs 30] [--out nbs/tutorials/low_label_digits.json]
    python experiments/low_label_digits.py --recipes 'GradAug, divisor 8' --append   # add runs to the file
"""
import argparse, json, platform, tempfile, time
from pathlib import Path
import torch
from tqdm.auto import tqdm
from gradaug.config import TrainConfig, config_dict, yaml_value
from gradaug.train import train

RECIPES = {
    'baseline': dict(n=0),
    'RandScale only': dict(n=3, alpha=1.0, transform='scale'),
    'RandWidth only': dict(n=3, alpha=0.8, transform='none'),
    'GradAug': dict(n=3, alpha=0.8, transform='scale'),
    'GradAug, divisor 8': dict(n=3, alpha=0.8, transform='scale', divisor=8),
}
DEFAULT = ['baseline', 'RandScale only', 'RandWidth only', 'GradAug', 'GradAug, divisor 8']

def settings(args)->dict:
    "The settings every run shares."
    return dict(dataset='digits', low_labels=args.labels, model=args.model, epochs=args.epochs, batch_size=50,
                eval_batch_size=500, lr=args.lr, schedule='cosine', warmup_epochs=args.epochs / 10, momentum=0.9,
                nesterov=True, weight_decay=5e-4, threads=1, progress=False)

def command(cfg:TrainConfig)->str:
    "The gradaug-train command line that trains `cfg` (the settings that differ from the defaults)."
    default = config_dict(TrainConfig())
    changed = [f"{k}={yaml_value(v)}" for k, v in config_dict(cfg).items()
               if v != default[k] and k not in ('out', 'name')]
    return 'gradaug-train ' + ' '.join(changed)

def run(recipe:str, seed:int, shared:dict, out:Path)->dict:
    folder = out/f"{recipe.replace(' ', '_').replace(',', '')}-{seed}"
    cfg = TrainConfig(**shared, **RECIPES[recipe], seed=seed, out=str(folder))
    t0 = time.time()
    summary = train(cfg, log=lambda message: None)
    return dict(recipe=recipe, seed=seed, accuracy=summary['final_top1'], seconds=time.time() - t0,
                command=command(cfg))

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=3); p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--labels', type=int, default=500); p.add_argument('--model', default='wrn10_1')
    p.add_argument('--lr', type=float, default=0.05)
    p.add_argument('--recipes', nargs='*', default=DEFAULT, choices=list(RECIPES))
    p.add_argument('--append', action='store_true', help='add these runs to those already in --out')
    p.add_argument('--out', default='nbs/tutorials/low_label_digits.json')
    a = p.parse_args()
    shared = settings(a)
    with tempfile.TemporaryDirectory() as runs:
        jobs = [(r, s) for s in range(a.seeds) for r in a.recipes]
        results = [run(r, s, shared, Path(runs)) for r, s in tqdm(jobs, desc='runs')]
    meta = dict(labels=a.labels, epochs=a.epochs, model=a.model, lr=a.lr, batch_size=50, sizes=[28, 24, 20],
                schedule=f"cosine after {a.epochs / 10:g} warmup epochs", torch=torch.__version__, threads=1,
                machine=f"{platform.machine()}, {platform.processor() or 'cpu'}")
    if a.append: results = json.loads(Path(a.out).read_text())['runs'] + results
    Path(a.out).write_text(json.dumps(dict(meta=meta, runs=results), indent=1))
    for r in dict.fromkeys(x['recipe'] for x in results):
        acc = torch.tensor([x['accuracy'] for x in results if x['recipe'] == r])
        print(f"{r:20s} {acc.mean():.2f} ± {acc.std() if len(acc) > 1 else 0:.2f}  ({len(acc)} seeds)")
