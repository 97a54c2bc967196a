"""GradAug on a LayerNorm network and a transformer: a tiny ConvNeXt and a tiny ViT on 500 labelled MNIST digits.

The demonstration of nbs/tutorials/transformer_digits.ipynb (issue 23): `slim` now slims ConvNeXt (every channel,
LayerNorm over the kept ones) and ViT (the MLP hidden width only); does GradAug help either on the digits, against
its baseline, seed for seed? The design is `DESIGN` below, committed before any run: two architectures, two recipes
(baseline, GradAug), six paired seeds, one fixed optimiser setting (AdamW, not tuned: stated, not hidden). Seed s
fixes the labelled split, the initialisation and the batch order (and, for GradAug, its widths and sizes).

Each finished run is appended to `nbs/tutorials/transformer_digits.csv` at once (runs already there are skipped, so
an interrupted sweep continues); two runs at a time, one CPU thread each:

    python experiments/transformer_digits.py all                        # the 24 runs (what `make transformers` runs)
    python experiments/transformer_digits.py one --arch vit --recipe GradAug --seed 0   # one run, printed

The data pipeline (splits, the 2-pixel shifts, batches, accuracy, the resumable sweep) is evidence_digits.py's.
"""
import argparse, multiprocessing as mp, platform, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))   # evidence_digits.py, beside this file
import evidence_digits as evidence

OUT = evidence.OUT/'transformer_digits.csv'
DESIGN = dict(
    archs=('convnext', 'vit'),     # see `build`: about 0.2 M parameters each, both fit 500 digits exactly
    labels=500,                    # labelled training digits, class-balanced (evidence_digits' splits)
    steps=600,                     # AdamW steps of `batch_size`: 60 passes over the labelled digits
    seeds=tuple(range(6)),         # paired seeds
    recipes=('baseline', 'GradAug'),
    n=3, alpha=0.8,                # the paper's CIFAR settings
    sizes={'convnext': (28, 24, 20), 'vit': (28,)},   # torchvision's ViT takes one image size: widths only
    batch_size=50, lr=2e-3, weight_decay=0.05, warmup=0.05,   # AdamW, linear warmup (5% of steps), then cosine
)
FIELDS = ['arch', 'recipe', 'seed', 'steps', 'lr', 'weight_decay', 'top1', 'train_top1', 'cpu_seconds', 'seconds',
          'command', 'torch', 'machine']

def build(arch:str):
    "A torchvision ConvNeXt or ViT sized for 28-pixel digits (fed as 3 equal channels), 10 classes."
    import torchvision
    from torchvision.models.convnext import ConvNeXt, CNBlockConfig
    if arch == 'convnext':
        return ConvNeXt([CNBlockConfig(32, 64, 2), CNBlockConfig(64, 128, 2), CNBlockConfig(128, None, 2)],
                        stochastic_depth_prob=0.0, num_classes=10)
    return torchvision.models.VisionTransformer(image_size=28, patch_size=7, num_layers=4, num_heads=4, hidden_dim=64,
                                                mlp_dim=256, num_classes=10)

def command(arch:str, recipe:str, seed:int)->str:
    return f"python experiments/transformer_digits.py one --arch {arch} --recipe {recipe} --seed {seed}"

def train_one(arch:str, recipe:str, seed:int)->dict:
    "Train one run on this process's threads; its top-1 (%) on the 1,000 test digits and the labelled digits."
    import torch
    import torch.nn.functional as F
    from gradaug.core import GradAug
    from gradaug.data import DIGITS_MEAN, DIGITS_STD, digits_tensors
    from gradaug.slim import slim
    from gradaug.transforms import RandomScale
    x, y = digits_tensors(torch.float32)
    x = (x - DIGITS_MEAN) / DIGITS_STD
    split = evidence.digit_splits(DESIGN['labels'], seed)
    x_lab, y_lab = x[split['labelled']], y[split['labelled']]
    torch.manual_seed(seed)
    model = slim(build(arch), example=torch.zeros(1, 3, 28, 28))
    rgb = lambda t: t.expand(-1, 3, -1, -1)
    order_gen, gradaug_gen = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(10_000 + seed)
    sizes = list(DESIGN['sizes'][arch])
    gradaug = GradAug(model, n=DESIGN['n'] if recipe == 'GradAug' else 0, alpha=DESIGN['alpha'], generator=gradaug_gen,
                      transform=RandomScale(sizes, generator=gradaug_gen) if len(sizes) > 1 else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=DESIGN['lr'], weight_decay=DESIGN['weight_decay'])
    total, warmup = DESIGN['steps'], max(1, round(DESIGN['warmup'] * DESIGN['steps']))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, evidence.warmup_cosine(total, warmup))
    for idx in evidence.batches(len(y_lab), total, DESIGN['batch_size'], order_gen):
        optimizer.zero_grad(set_to_none=True)
        gradaug.step(rgb(evidence.shifted(x_lab[idx], order_gen)), y_lab[idx], F.cross_entropy)
        optimizer.step()
        schedule.step()
    return dict(top1=evidence.accuracy(model, rgb(x[split['test']]), y[split['test']]),
                train_top1=evidence.accuracy(model, rgb(x_lab), y_lab))

def run(job:dict)->dict:
    "One CSV row: `job`'s settings, its accuracies, its CPU and wall-clock seconds, and the command that repeats it."
    import torch
    t0, cpu0 = time.time(), time.process_time()
    result = train_one(job['arch'], job['recipe'], job['seed'])
    return dict(**job, **result, steps=DESIGN['steps'], lr=DESIGN['lr'], weight_decay=DESIGN['weight_decay'],
                cpu_seconds=round(time.process_time() - cpu0, 1), seconds=round(time.time() - t0, 1),
                command=command(job['arch'], job['recipe'], job['seed']), torch=torch.__version__,
                machine=f"{platform.machine()}, {mp.cpu_count()} CPUs")

def jobs()->list:
    "Seed-major, so that a stopped sweep leaves both architectures with about as many paired seeds."
    return [dict(arch=a, recipe=r, seed=s) for s in DESIGN['seeds'] for a in DESIGN['archs'] for r in DESIGN['recipes']]

def report(row:dict)->str:
    return (f"{row['arch']}, {row['recipe']}, seed {row['seed']}: test {row['top1']:.1f}%, "
            f"train {row['train_top1']:.1f}% ({row['cpu_seconds']:.0f} CPU-s)")

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('phase', choices=['all', 'one'])
    p.add_argument('--workers', type=int, default=2, help='runs at a time, one CPU thread each')
    p.add_argument('--out', type=Path, default=OUT, help='the CSV the runs are appended to')
    p.add_argument('--arch', default='vit', choices=DESIGN['archs'])
    p.add_argument('--recipe', default='GradAug', choices=DESIGN['recipes'])
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    if a.phase == 'one':
        evidence._init_worker()
        print(report(run(dict(arch=a.arch, recipe=a.recipe, seed=a.seed))))
    else: evidence.sweep(jobs(), a.out, FIELDS, ('arch', 'recipe', 'seed'), a.workers, run, report)
