"""Baseline vs GradAug detectors on the digit canvases, paired seeds, CPU (issue 8; read by nbs/19_detect.ipynb).

For each seed, the two shipped digit configs are trained with the same seed (same initial weights, data order and
canvases; GradAug adds the sub-networks): digits_maskrcnn_r18_fpn_baseline (n=0) and digits_maskrcnn_r18_fpn_gradaug.
One row per finished run is appended to experiments/detect_digits.csv, so a stopped experiment continues where it
was (runs already in the CSV are skipped; a run cut off mid-way resumes from its checkpoint in runs/detect_digits/).
The first seed's two detectors also predict on four test canvases, kept in experiments/detect_digits_predictions.pt
for the notebook to draw.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/detect_digits.py --seeds 0 1 2 --settings epochs=6"""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, csv, platform, time
from pathlib import Path
import torch
from gradaug.config import load_config
from gradaug.detect import DetectConfig, detection_datasets, load_detector, train_detector
from gradaug.slim import eval_mode

ROOT = Path(__file__).resolve().parents[1]
ARMS = dict(baseline='digits_maskrcnn_r18_fpn_baseline', gradaug='digits_maskrcnn_r18_fpn_gradaug')
COLUMNS = ['arm', 'seed', 'settings', 'epochs', 'steps', 'box_map', 'box_map_50', 'mask_map', 'seconds', 'machine']

def done_runs(path:Path)->set:
    "(arm, seed, settings) of the rows already in the CSV."
    if not path.exists(): return set()
    return {(r['arm'], int(r['seed']), r['settings']) for r in csv.DictReader(open(path))}

def append_row(path:Path, row:dict):
    new = not path.exists()
    with open(path, 'a', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new: writer.writeheader()
        writer.writerow(row)

def run(arm:str, seed:int, settings:list, runs:Path)->dict:
    "Train one arm at one seed (continuing its run folder if a earlier attempt was cut off); its CSV row."
    cfg = load_config(ARMS[arm], [*settings, f'seed={seed}', 'progress=false', 'threads=1',
                                  f'out={runs}/{arm}-s{seed}', 'resume=auto'], cls=DetectConfig)
    start = time.time()
    s = train_detector(cfg, log=lambda line: print(f'  [{arm} s{seed}] {line}', flush=True))
    return dict(arm=arm, seed=seed, settings=' '.join(settings), epochs=s['epochs'], steps=s['steps'],
                box_map=f"{s['final_box_map']:.4f}", box_map_50=f"{s['final_box_map_50']:.4f}",
                mask_map=f"{s['final_mask_map']:.4f}", seconds=f'{time.time() - start:.0f}',
                machine=f'{platform.machine()} {os.cpu_count()} CPUs, shared, 1 thread, no GPU')

def keep_predictions(runs:Path, seed:int, path:Path, count:int=4, threshold:float=0.5):
    "Both arms' predictions (score >= threshold, masks at 0.5) on the first `count` test canvases, and the truth."
    kept = dict(images=[], targets=[])
    for arm in ARMS:
        model, cfg = load_detector(runs/f'{arm}-s{seed}')
        test = detection_datasets(cfg)[1]
        items = [test[i] for i in range(count)]
        with eval_mode(model), torch.no_grad(): found = model([image for image, _ in items])
        kept[arm] = [_small(p, threshold) for p in found]
        kept['images'] = [image for image, _ in items]
        kept['targets'] = [dict(boxes=t['boxes'], labels=t['labels'], masks=t['masks']) for _, t in items]
    torch.save(kept, path)

def _small(p:dict, threshold:float)->dict:
    keep = p['scores'] >= threshold
    out = dict(boxes=p['boxes'][keep], labels=p['labels'][keep], scores=p['scores'][keep])
    if 'masks' in p: out['masks'] = (p['masks'][keep, 0] > 0.5).to(torch.uint8)
    return out

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--settings', nargs='*', default=[], help='key=value for both arms (e.g. epochs=6)')
    parser.add_argument('--csv', default=str(ROOT/'experiments'/'detect_digits.csv'))
    parser.add_argument('--predictions', default=str(ROOT/'experiments'/'detect_digits_predictions.pt'))
    parser.add_argument('--runs', default=str(ROOT/'runs'/'detect_digits'))
    a = parser.parse_args()
    torch.set_num_threads(1)
    csv_path, runs = Path(a.csv), Path(a.runs)
    for seed in a.seeds:
        for arm in ARMS:
            if (arm, seed, ' '.join(a.settings)) in done_runs(csv_path): continue
            row = run(arm, seed, a.settings, runs)
            append_row(csv_path, row)
            print(f"{arm} seed {seed}: box mAP {row['box_map']}, mask mAP {row['mask_map']}, {row['seconds']} s",
                  flush=True)
        if seed == a.seeds[0] and not Path(a.predictions).exists(): keep_predictions(runs, seed, Path(a.predictions))

if __name__ == '__main__': main()
