"""Regenerate the numbers of nbs/tutorials/low_label_digits.ipynb: GradAug and its ablations with few labels.

Trains, on 500 labelled digits (50 per class) of the embedded MNIST set, a small WideResNet with four recipes:
baseline (n=0), RandScale only (3 sub-networks at full width on rescaled inputs), RandWidth only (3 sub-networks of
width >= alpha on the original inputs) and GradAug (both), each with several seeds, and writes the test accuracies
and run times to a JSON file.

    python experiments/low_label_digits.py [--seeds 3] [--epochs 30] [--out nbs/tutorials/low_label_digits.json]
    python experiments/low_label_digits.py --recipes 'GradAug, divisor 8' --append   # the divisor trade-off
"""
import argparse, json, platform, time
import torch
from torch import nn
from tqdm.auto import tqdm
from gradaug.core import GradAug
from gradaug.data import get_loaders
from gradaug.models import create_model
from gradaug.sampler import RandomScale

RECIPES = {  # name -> (n, alpha, transform sizes or None, divisor)
    'baseline': (0, 1.0, None, 1),
    'RandScale only': (3, 1.0, [28, 24, 20], 1),
    'RandWidth only': (3, 0.8, None, 1),
    'GradAug': (3, 0.8, [28, 24, 20], 1),
    'GradAug, divisor 8': (3, 0.8, [28, 24, 20], 8),
}
DEFAULT = ['baseline', 'RandScale only', 'RandWidth only', 'GradAug']

def run(recipe, seed, epochs, labels, model_name, lr):
    n, alpha, sizes, divisor = RECIPES[recipe]
    torch.manual_seed(seed)
    train, test, num_classes, in_chans = get_loaders('digits', batch_size=50, low_labels=labels, seed=seed, test_batch_size=500)
    model = create_model(model_name, num_classes=num_classes, in_chans=in_chans)
    g = torch.Generator().manual_seed(seed)
    ga = GradAug(model, n=n, alpha=alpha, transform=RandomScale(sizes, g) if sizes else None, generator=g, divisor=divisor)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs*len(train), pct_start=0.1, anneal_strategy='cos')
    crit, t0 = nn.CrossEntropyLoss(), time.time()
    for _ in range(epochs):
        model.train()
        for x, y in train:
            ga.step(x, y, crit); opt.step(); opt.zero_grad(set_to_none=True); sched.step()
    model.eval(); correct = 0
    with torch.no_grad():
        for x, y in test: correct += (model(x).argmax(1) == y).sum().item()
    return dict(recipe=recipe, seed=seed, accuracy=100*correct/len(test.dataset), seconds=time.time() - t0)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=3); p.add_argument('--epochs', type=int, default=30)
    p.add_argument('--labels', type=int, default=500); p.add_argument('--model', default='wrn10_2')
    p.add_argument('--lr', type=float, default=0.05); p.add_argument('--recipes', nargs='*', default=DEFAULT, choices=list(RECIPES))
    p.add_argument('--append', action='store_true', help='add these runs to those already in --out')
    p.add_argument('--out', default='nbs/tutorials/low_label_digits.json')
    a = p.parse_args()
    torch.set_flush_denormal(True)
    jobs = [(r, s) for s in range(a.seeds) for r in a.recipes]
    runs = [run(r, s, a.epochs, a.labels, a.model, a.lr) for r, s in tqdm(jobs, desc='runs')]
    meta = dict(labels=a.labels, epochs=a.epochs, model=a.model, lr=a.lr, batch_size=50, sizes=[28, 24, 20], alpha=0.8,
                torch=torch.__version__, threads=torch.get_num_threads(), machine=f"{platform.machine()}, {platform.processor() or 'cpu'}")
    if a.append:
        with open(a.out) as f: runs = json.load(f)['runs'] + runs
    with open(a.out, 'w') as f: json.dump(dict(meta=meta, runs=runs), f, indent=1)
    for r in dict.fromkeys(x['recipe'] for x in runs):
        acc = torch.tensor([x['accuracy'] for x in runs if x['recipe'] == r])
        print(f"{r:15s} {acc.mean():.2f} ± {acc.std() if len(acc) > 1 else 0:.2f}  ({len(acc)} seeds)")
