"""The evidence study of nbs/tutorials/evidence_digits.ipynb: where, and at what cost, GradAug beats the baseline.

A pre-registered grid on the embedded MNIST digits (the design is `DESIGN` below and the notebook's "Design" section,
committed before any run): WRN-10-2, 100 and 500 labelled digits, 60 / 180 / 540 SGD steps, three recipes
(baseline, GradAug, and a baseline given GradAug's FLOPs), 8 paired seeds. Seed s fixes the labelled split, the
initialisation and the batch order (and, for GradAug, its widths and sizes), so runs of one seed are paired.

Two phases, each appending every finished run to its CSV at once (runs already there are skipped, so an interrupted
sweep continues where it stopped); two runs at a time, one CPU thread each:

    python experiments/evidence_digits.py tune    # the baseline's lr x weight decay, on the 500 validation digits
    python experiments/evidence_digits.py main    # the grid, scored on the 1,000 test digits, with tune's choice
    python experiments/evidence_digits.py all     # both (what `make evidence` runs)
    python experiments/evidence_digits.py one --labels 100 --steps 540 --recipe GradAug --seed 3   # one run, printed

The runs use gradaug's public pieces (`create_model`, `GradAug.step`, `RandomScale`, the digit splits) in a
20-line loop of this file's own: the library's trainer has no validation split, and this loop evaluates only once.
"""
import argparse, csv, math, multiprocessing as mp, platform, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent/'nbs'/'tutorials'
DESIGN = dict(
    model='wrn10_2',               # 0.30 M parameters: enough to fit 100 or 500 digits exactly
    labels=(100, 500),             # labelled training digits, class-balanced
    steps=(60, 180, 540),          # training lengths in SGD steps of `batch_size`, each 3x the one before
    seeds=tuple(range(8)),         # paired seeds of the main grid
    recipes=('baseline', 'GradAug', 'equal-compute baseline'),
    flop_ratio=2.70,               # GradAug's training FLOPs per step / the baseline's (measured: `flop_ratio()`)
    n=3, alpha=0.8, sizes=(28, 24, 20),   # the paper's CIFAR settings, sizes scaled from 32/28/24 to 28-pixel digits
    batch_size=50, momentum=0.9, warmup=0.05,  # SGD with Nesterov momentum; linear warmup (5% of steps), then cosine
    validation=500,                # digits held out of the 4,000 training digits (50 per class, fixed): tuning only
    tune_lr=(0.03, 0.1, 0.3),      # the baseline's grid, per label count, at the middle length, on validation
    tune_weight_decay=(5e-4, 5e-3),
    tune_steps=180,
    tune_seeds=(100, 101),         # seeds of their own, so the main grid's seeds play no part in the choice
)
MAIN_FIELDS = ['labels', 'steps', 'recipe', 'seed', 'train_steps', 'lr', 'weight_decay', 'top1', 'val_top1',
               'train_top1', 'cpu_seconds', 'seconds', 'command', 'torch', 'machine']
TUNE_FIELDS = ['labels', 'steps', 'lr', 'weight_decay', 'seed', 'val_top1', 'train_top1', 'cpu_seconds', 'seconds',
               'command', 'torch', 'machine']

def train_steps(recipe:str, steps:int)->int:
    "SGD steps a recipe takes at length `steps`: the equal-compute baseline gets GradAug's FLOPs."
    return round(DESIGN['flop_ratio'] * steps) if recipe == 'equal-compute baseline' else steps

def command(labels:int, steps:int, recipe:str, seed:int, lr:float, weight_decay:float)->str:
    return (f"python experiments/evidence_digits.py one --labels {labels} --steps {steps} --recipe '{recipe}' "
            f"--seed {seed} --lr {lr:g} --weight_decay {weight_decay:g}")

def digit_splits(labels:int, seed:int)->dict:
    "Index tensors into the 5,000 digits: `labelled` (by seed), the fixed `validation` and `test` digits."
    import torch
    from gradaug.data import digits_split, digits_tensors, low_label_indices
    _, y = digits_tensors()
    train_idx, test_idx = digits_split()
    held = train_idx[low_label_indices(y[train_idx], DESIGN['validation'], seed=12345)]
    pool = train_idx[~torch.isin(train_idx, held)]
    return dict(labelled=pool[low_label_indices(y[pool], labels, seed=seed)], validation=held, test=test_idx)

def shifted(x, generator):
    "Each image shifted by up to 2 pixels (pad 2 with the background, crop 28): the digits' base augmentation."
    import torch
    import torch.nn.functional as F
    padded = F.pad(x, (2, 2, 2, 2), value=float(x.amin()))
    dy, dx = torch.randint(0, 5, (2, len(x)), generator=generator)
    rows = (dy[:, None] + torch.arange(28))[:, :, None]
    cols = (dx[:, None] + torch.arange(28))[:, None, :]
    return padded[torch.arange(len(x))[:, None, None], 0, rows, cols].unsqueeze(1)

def batches(n_items:int, total:int, batch_size:int, generator):
    "`total` batches of indices into `n_items`: epochs of fresh permutations, concatenated."
    import torch
    need = total * batch_size
    order = torch.cat([torch.randperm(n_items, generator=generator) for _ in range(math.ceil(need / n_items))])
    return order[:need].view(total, batch_size)

def accuracy(model, x, y)->float:
    import torch
    model.eval()
    with torch.no_grad(): correct = sum((model(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x.split(500), y.split(500)))
    model.train()
    return 100 * correct / len(y)

def warmup_cosine(total:int, warmup:int):
    "The lr factor of step i of `total`: a linear warmup over the first `warmup` steps, then cosine decay to zero."
    def factor(i): return (i + 1) / warmup if i < warmup else 0.5 * (1 + math.cos(math.pi * (i - warmup) / (total - warmup)))
    return factor

def train_one(labels:int, steps:int, recipe:str, seed:int, lr:float, weight_decay:float)->dict:
    "Train one run on this process's threads; its top-1 (%) on the test, validation and (unshifted) labelled digits."
    import torch
    import torch.nn.functional as F
    from gradaug.core import GradAug
    from gradaug.data import DIGITS_MEAN, DIGITS_STD, digits_tensors
    from gradaug.models import create_model
    from gradaug.transforms import RandomScale
    x, y = digits_tensors(torch.float32)
    x = (x - DIGITS_MEAN) / DIGITS_STD
    split = digit_splits(labels, seed)
    x_lab, y_lab = x[split['labelled']], y[split['labelled']]
    torch.manual_seed(seed)
    model = create_model(DESIGN['model'], num_classes=10, in_chans=1)
    order_gen, gradaug_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(10_000 + seed)
    n = DESIGN['n'] if recipe == 'GradAug' else 0
    gradaug = GradAug(model, n=n, alpha=DESIGN['alpha'], generator=gradaug_gen,
                      transform=RandomScale(list(DESIGN['sizes']), generator=gradaug_gen))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=DESIGN['momentum'], nesterov=True,
                                weight_decay=weight_decay)
    total = train_steps(recipe, steps)
    warmup = max(1, round(DESIGN['warmup'] * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total, warmup))
    for idx in batches(len(y_lab), total, DESIGN['batch_size'], order_gen):
        optimizer.zero_grad(set_to_none=True)
        gradaug.step(shifted(x_lab[idx], order_gen), y_lab[idx], F.cross_entropy)
        optimizer.step()
        schedule.step()
    return dict(train_steps=total, top1=accuracy(model, x[split['test']], y[split['test']]),
                val_top1=accuracy(model, x[split['validation']], y[split['validation']]),
                train_top1=accuracy(model, x_lab, y_lab))

def _init_worker():
    import torch
    torch.set_num_threads(1)

def run(job:dict)->dict:
    "One CSV row: `job`'s settings, its accuracies, its CPU and wall-clock seconds, and the command that repeats it."
    import torch
    t0, cpu0 = time.time(), time.process_time()
    result = train_one(**{k: job[k] for k in ('labels', 'steps', 'recipe', 'seed', 'lr', 'weight_decay')})
    return dict(**job, **result, cpu_seconds=round(time.process_time() - cpu0, 1), seconds=round(time.time() - t0, 1),
                command=command(**{k: job[k] for k in ('labels', 'steps', 'recipe', 'seed', 'lr', 'weight_decay')}),
                torch=torch.__version__, machine=f"{platform.machine()}, {mp.cpu_count()} CPUs")

def read_rows(path:Path)->list:
    if not path.exists(): return []
    with path.open() as f: return list(csv.DictReader(f))

def chosen_hyperparameters(rows:list, labels:int)->tuple:
    "The (lr, weight decay) with the best mean validation top-1 over the tuning seeds; ties go to the earlier grid entry."
    grid = [(lr, wd) for lr in DESIGN['tune_lr'] for wd in DESIGN['tune_weight_decay']]
    def mean_val(lr, wd):
        vals = [float(r['val_top1']) for r in rows if int(r['labels']) == labels
                and float(r['lr']) == lr and float(r['weight_decay']) == wd]
        if len(vals) != len(DESIGN['tune_seeds']):
            sys.exit(f"evidence_digits: tuning for {labels} labels is incomplete (lr={lr}, weight_decay={wd} has "
                     f"{len(vals)} of {len(DESIGN['tune_seeds'])} runs); run the `tune` phase first.")
        return sum(vals) / len(vals)
    return max(grid, key=lambda g: (mean_val(*g), -grid.index(g)))

def tune_jobs()->list:
    return [dict(labels=n, steps=DESIGN['tune_steps'], recipe='baseline', seed=s, lr=lr, weight_decay=wd)
            for s in DESIGN['tune_seeds'] for n in DESIGN['labels']
            for lr in DESIGN['tune_lr'] for wd in DESIGN['tune_weight_decay']]

def main_jobs(tuning:list)->list:
    "Seed-major, so that a stopped sweep leaves every cell with about as many seeds."
    chosen = {n: chosen_hyperparameters(tuning, n) for n in DESIGN['labels']}
    return [dict(labels=n, steps=st, recipe=r, seed=s, lr=chosen[n][0], weight_decay=chosen[n][1])
            for s in DESIGN['seeds'] for n in DESIGN['labels'] for st in DESIGN['steps'] for r in DESIGN['recipes']]

def describe(row:dict)->str:
    "One finished run of this study, in a line."
    return (f"{row['labels']} labels, {row['steps']} steps, {row['recipe']}, seed {row['seed']} (lr {row['lr']:g}, "
            f"wd {row['weight_decay']:g}): val {row['val_top1']:.1f}%, test {row['top1']:.1f}%, "
            f"train {row['train_top1']:.1f}% ({row['cpu_seconds']:.0f} CPU-s)")

def sweep(jobs:list, out:Path, fields:list, key:tuple, workers:int, run_job=run, describe_row=describe):
    "Run the `jobs` not yet in `out` with `run_job`, `workers` at a time, appending each finished row at once."
    have = {tuple(str(r[k]) for k in key) for r in read_rows(out)}
    todo = [j for j in jobs if tuple(str(j[k]) for k in key) not in have]
    print(f"{out.name}: {len(jobs) - len(todo)} of {len(jobs)} runs done, {len(todo)} to go", flush=True)
    if not todo: return
    new, t0 = not out.exists(), time.time()
    with out.open('a', newline='') as f, mp.get_context('spawn').Pool(workers, initializer=_init_worker) as pool:
        writer = csv.DictWriter(f, fields, extrasaction='ignore')
        if new: writer.writeheader()
        for i, row in enumerate(pool.imap_unordered(run_job, todo), 1):
            writer.writerow(row)
            f.flush()
            print(f"[{i}/{len(todo)}, {(time.time() - t0) / 60:.0f} min] {describe_row(row)}", flush=True)

def flop_ratio(model:str=DESIGN['model'], draws:int=100)->float:
    "GradAug's mean training FLOPs per step (forward + backward, `draws` sampled steps) over the baseline's."
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode
    from gradaug.core import GradAug
    from gradaug.models import create_model
    from gradaug.transforms import RandomScale
    x, y = torch.randn(DESIGN['batch_size'], 1, 28, 28), torch.randint(0, 10, (DESIGN['batch_size'],))
    flops = {}
    for n in (0, DESIGN['n']):
        generator = torch.Generator().manual_seed(1)
        net = create_model(model, num_classes=10, in_chans=1)
        gradaug = GradAug(net, n=n, alpha=DESIGN['alpha'], generator=generator,
                          transform=RandomScale(list(DESIGN['sizes']), generator=generator))
        total = 0
        for _ in range(draws):
            with FlopCounterMode(display=False) as counter: gradaug.step(x, y, F.cross_entropy)
            total += counter.get_total_flops()
            net.zero_grad()
        flops[n] = total / draws
    return flops[DESIGN['n']] / flops[0]

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('phase', choices=['tune', 'main', 'all', 'one', 'flops'])
    p.add_argument('--workers', type=int, default=2, help='runs at a time, one CPU thread each')
    p.add_argument('--out', type=Path, default=OUT, help='folder of evidence_digits.csv and evidence_tuning.csv')
    p.add_argument('--labels', type=int, default=100); p.add_argument('--steps', type=int, default=180)
    p.add_argument('--recipe', default='GradAug', choices=DESIGN['recipes']); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--lr', type=float, default=0.1); p.add_argument('--weight_decay', type=float, default=5e-4)
    a = p.parse_args()
    tuning_csv, main_csv = a.out/'evidence_tuning.csv', a.out/'evidence_digits.csv'
    if a.phase == 'one':
        _init_worker()
        print(run(dict(labels=a.labels, steps=a.steps, recipe=a.recipe, seed=a.seed, lr=a.lr, weight_decay=a.weight_decay)))
    if a.phase == 'flops': print(f"GradAug / baseline training FLOPs per step: {flop_ratio():.3f}")
    if a.phase in ('tune', 'all'):
        sweep(tune_jobs(), tuning_csv, TUNE_FIELDS, ('labels', 'lr', 'weight_decay', 'seed'), a.workers)
    if a.phase in ('main', 'all'):
        sweep(main_jobs(read_rows(tuning_csv)), main_csv, MAIN_FIELDS, ('labels', 'steps', 'recipe', 'seed'), a.workers)
