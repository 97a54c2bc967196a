"""Where the class activation maps of the reference digit models fall on two-digit canvases, for nbs/15_cam.ipynb.

For each seed s with models in nbs/_reference_models/, builds `--canvases` canvases of seed s (`digit_canvases`: two
test digits of one class, one in each half) and computes Grad-CAM (default target layer, target = the canvas' class)
for four columns: the baseline, GradAug's sub-network at width 0.9 with BN recalibrated on 20 batches of 100
unaugmented training digits, GradAug's full network and GradAug*'s. Writes one row per (column, seed, canvas), with the
share of the map's mass inside each digit's ink box and the predicted class, to
nbs/_reference_models/subnetworks/cam_mass.csv.

    python tools/cam_mass.py [--canvases 300] [--threads 1]
"""
import argparse
import torch
from torch.utils.data import DataLoader
from gradaug.cam import cam, digit_canvases, mass_in_boxes, predict, CamColumn
from gradaug.checkpoint import load_model
from gradaug.data import DigitsDataset
from gradaug.slim import recalibrate_bn
from reference_sweep import MODELS, reference_seeds, write_sweep

HEADER = ('column', 'seed', 'canvas', 'label', 'predicted', 'share_left', 'share_right')

def columns(seed:int)->dict:
    "Column name -> CamColumn of seed `seed`'s models."
    baseline, _ = load_model(MODELS/f'baseline-s{seed}.pt')
    gradaug, _ = load_model(MODELS/f'gradaug-s{seed}.pt')
    mixup, _ = load_model(MODELS/f'gradaug_mixup-s{seed}.pt')
    loader = DataLoader(DigitsDataset(), batch_size=100, shuffle=True, generator=torch.Generator().manual_seed(0))
    stats = recalibrate_bn(gradaug, loader, 0.9, batches=20)
    return {'baseline': CamColumn(baseline, 'baseline'), 'gradaug@0.9': CamColumn(gradaug, 'GradAug', 0.9, stats),
            'gradaug': CamColumn(gradaug, 'GradAug'), 'gradaug_mixup': CamColumn(mixup, 'GradAug*')}

def column_rows(name:str, column:CamColumn, seed:int, canvases, labels, boxes, batch:int=100)->list:
    "One row of HEADER per canvas."
    rows = []
    for start in range(0, len(canvases), batch):
        part = slice(start, start + batch)
        maps = cam(column.model, canvases[part], column.width, targets=labels[part].tolist(), bn_stats=column.bn_stats)
        shares = mass_in_boxes(maps, boxes[part])
        predicted = predict(column, canvases[part])[1]
        for i, (label, guess, (left, right)) in enumerate(zip(labels[part].tolist(), predicted.tolist(),
                                                              shares.tolist())):
            rows.append((name, seed, start + i, label, guess, f'{left:.5f}', f'{right:.5f}'))
    return rows

def cam_rows(seed:int, n:int)->list:
    "The rows of every column of seed `seed` on its `n` canvases."
    canvases, labels, boxes = digit_canvases(n, seed)
    return [row for name, column in columns(seed).items()
            for row in column_rows(name, column, seed, canvases, labels, boxes)]

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--canvases', type=int, default=300)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=str(MODELS/'subnetworks'/'cam_mass.csv'))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    groups = ((f'seed {seed}', cam_rows(seed, a.canvases)) for seed in reference_seeds())
    write_sweep(a.out, HEADER, groups, a.threads)
