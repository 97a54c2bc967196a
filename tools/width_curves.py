"""Accuracy against width of the reference digit models, with and without BN recalibration, for nbs/15_cam.ipynb.

For each reference checkpoint (baseline, GradAug and GradAug* of every seed in nbs/_reference_models/), slims the
model if it was trained without sub-networks (the baseline; `slim` keeps its weights and its function at width 1), then
at each width measures top-1 on the 1,000 test digits twice: with the full network's BN statistics (what a sub-network
uses in eval mode unless told otherwise) and with `recalibrate_bn` on `--batches` batches of 100 training digits
(unaugmented, a fixed shuffled order per seed). Writes one row per (model, width) to
nbs/_reference_models/subnetworks/width_accuracy.csv.

    python tools/width_curves.py [--widths 1.0 0.9 ...] [--batches 20] [--threads 1]
"""
import argparse
from pathlib import Path
import torch
from torch.utils.data import DataLoader
from gradaug.checkpoint import load_model
from gradaug.data import DigitsDataset
from gradaug.metrics import evaluate
from gradaug.slim import calibrated, recalibrate_bn, slim, slim_layers, width
from reference_sweep import MODELS, reference_seeds, write_sweep

RECIPES = ('baseline', 'gradaug', 'gradaug_mixup')
WIDTHS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
HEADER = ('model', 'recipe', 'seed', 'width', 'top1', 'top1_recalibrated', 'calibration_images')

def slimmed_model(path:Path)->torch.nn.Module:
    "The checkpoint's model, slimmed if it was trained without sub-networks."
    model, _ = load_model(path)
    if not slim_layers(model): slim(model, example=torch.zeros(1, 1, 28, 28))
    return model

def calibration_loader(seed:int, batch_size:int=100)->DataLoader:
    "The 4,000 training digits, unaugmented, in a shuffled order fixed by `seed`."
    return DataLoader(DigitsDataset(train=True), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))

def width_rows(model:torch.nn.Module, name:str, recipe:str, seed:int, widths, batches:int, test:DataLoader)->list:
    "One row of HEADER per width."
    rows = []
    for w in widths:
        with width(model, w): top1 = evaluate(model, test)['top1']
        stats = recalibrate_bn(model, calibration_loader(seed), w, batches)
        with calibrated(model, stats): top1_recalibrated = evaluate(model, test)['top1']
        rows.append((name, recipe, seed, w, f'{top1:.1f}', f'{top1_recalibrated:.1f}', stats.batches*100))
    return rows

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--widths', type=float, nargs='+', default=list(WIDTHS))
    p.add_argument('--batches', type=int, default=20)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=str(MODELS/'subnetworks'/'width_accuracy.csv'))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    test = DataLoader(DigitsDataset(train=False), batch_size=500)
    groups = ((f'{recipe}-s{seed}', width_rows(slimmed_model(MODELS/f'{recipe}-s{seed}.pt'), f'{recipe}-s{seed}',
                                               recipe, seed, a.widths, a.batches, test))
              for seed in reference_seeds() for recipe in RECIPES)
    write_sweep(a.out, HEADER, groups, a.threads)
