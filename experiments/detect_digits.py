"""Baseline vs GradAug detectors on the digit canvases, paired seeds, CPU (issue 8; read by nbs/19_detect.ipynb).

For each seed, the two shipped digit configs are trained with the same seed (same initial weights, data order and
canvases; GradAug adds the sub-networks): digits_fasterrcnn_r18_fpn_baseline (n=0) and
digits_fasterrcnn_r18_fpn_gradaug (`gradaug-detect`'s default).
One row per finished run is appended to experiments/detect_digits.csv, so a stopped experiment continues where it
was (runs already in the CSV are skipped; a run cut off mid-way resumes from its checkpoint in runs/detect_digits/).
The first seed's two detectors also predict on four test canvases, kept in experiments/detect_digits_predictions.pt
for the notebook to draw.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python experiments/detect_digits.py --seeds 0 1 2

On a shared machine, one process per run goes faster (each with one thread); then keep the predictions:

    for s in 0 1 2 3 4; do for a in baseline gradaug; do
        nice -n 10 .venv/bin/python experiments/detect_digits.py --seeds $s --arms $a --no-predictions &
    done; done; wait
    nice -n 10 .venv/bin/python experiments/detect_digits.py --seeds 0 --predictions-only
    nice -n 10 .venv/bin/python experiments/detect_digits.py --collect

`--collect` writes experiments/detect_digits_epochs.csv: every evaluated epoch of every run folder (from its
metrics.json), finished or not, so that runs stopped by a deadline can still be compared at the epochs both arms
reached; the notebook reads it."""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import argparse, csv, io, json, platform, time
from pathlib import Path
import torch
from gradaug.config import load_config
from gradaug.detect import DetectConfig, detection_datasets, load_detector, train_detector
from gradaug.slim import eval_mode

ROOT = Path(__file__).resolve().parents[1]
ARMS = dict(baseline='digits_fasterrcnn_r18_fpn_baseline', gradaug='digits_fasterrcnn_r18_fpn_gradaug')
COLUMNS = ['arm', 'seed', 'settings', 'epochs', 'steps', 'box_map', 'box_map_50', 'mask_map', 'seconds', 'machine']

def done_runs(path:Path)->set:
    "(arm, seed, settings) of the rows already in the CSV."
    if not path.exists(): return set()
    return {(r['arm'], int(r['seed']), r['settings']) for r in csv.DictReader(open(path))}

def append_row(path:Path, row:dict):
    "Add `row` (one line, appended in one write, so that parallel runs can share the file), the header first."
    if not path.exists() or path.stat().st_size == 0: path.write_text(','.join(COLUMNS) + '\n')
    line = io.StringIO()
    csv.DictWriter(line, fieldnames=COLUMNS).writerow(row)
    with open(path, 'a') as f: f.write(line.getvalue())

def run(arm:str, seed:int, settings:list, runs:Path)->dict:
    "Train one arm at one seed (continuing its run folder if a earlier attempt was cut off); its CSV row."
    cfg = load_config(ARMS[arm], [*settings, f'seed={seed}', 'progress=false', 'threads=1',
                                  f'out={runs}/{arm}-s{seed}', 'resume=auto'], cls=DetectConfig)
    start = time.time()
    s = train_detector(cfg, log=lambda line: print(f'  [{arm} s{seed}] {line}', flush=True))
    return dict(arm=arm, seed=seed, settings=' '.join(settings), epochs=s['epochs'], steps=s['steps'],
                box_map=f"{s['final_box_map']:.4f}", box_map_50=f"{s['final_box_map_50']:.4f}",
                mask_map='' if s['final_mask_map'] is None else f"{s['final_mask_map']:.4f}",   # Faster R-CNN: none
                seconds=f'{_run_seconds(Path(cfg.out), time.time() - start):.0f}',
                machine=f'{platform.machine()} {os.cpu_count()} CPUs, shared, 1 thread, no GPU')

def _run_seconds(folder:Path, this_call:float)->float:
    "Wall-clock seconds of the run's epochs (all attempts, from its metrics.json), or of this call if it has none."
    path = folder/'metrics.json'
    if not path.is_file(): return this_call
    return sum(h.get('epoch_s', 0) for h in json.loads(path.read_text())['history'])

EPOCH_COLUMNS = ['arm', 'seed', 'epoch', 'step', 'box_map', 'box_map_50', 'mask_map', 'train_loss', 'train_sub_loss',
                 'epoch_s', 'epochs_planned']

def collect(runs:Path, path:Path):
    "One row per evaluated epoch of every run folder under `runs` (named {arm}-s{seed})."
    rows = []
    for folder in sorted(runs.glob('*-s*')):
        if not (folder/'metrics.json').is_file(): continue
        arm, seed = folder.name.rsplit('-s', 1)
        saved = json.loads((folder/'metrics.json').read_text())
        for h in saved['history']:
            rows.append(dict(arm=arm, seed=int(seed), epochs_planned=saved['config']['epochs'],
                             **{k: h[k] for k in EPOCH_COLUMNS if k in h}))
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=EPOCH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f'{len(rows)} epoch rows written to {path}')

def keep_predictions(runs:Path, seed:int, path:Path, count:int=4, threshold:float=0.5):
    "Both arms' predictions (score >= threshold, masks at 0.5) on the first `count` test canvases, and the truth."
    kept = dict(images=[], targets=[])
    for arm in ARMS:
        if not (runs/f'{arm}-s{seed}'/'checkpoint.pt').is_file(): continue   # a run stopped before its first epoch
        model, cfg = load_detector(runs/f'{arm}-s{seed}')
        test = detection_datasets(cfg)[1]
        items = [test[i] for i in range(count)]
        with eval_mode(model), torch.no_grad(): found = model([image for image, _ in items])
        kept[arm] = [_small(p, threshold) for p in found]
        kept['images'] = [(image * 255).round().to(torch.uint8) for image, _ in items]   # 4x smaller than float
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
    parser.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS))
    parser.add_argument('--collect', action='store_true', help='write the per-epoch CSV of the run folders and exit')
    parser.add_argument('--epochs-csv', default=str(ROOT/'experiments'/'detect_digits_epochs.csv'))
    parser.add_argument('--predictions-only', action='store_true', help='only keep the first seed\'s predictions')
    parser.add_argument('--no-predictions', action='store_true', help='do not keep the first seed\'s predictions')
    a = parser.parse_args()
    torch.set_num_threads(1)
    csv_path, runs = Path(a.csv), Path(a.runs)
    if a.collect: return collect(runs, Path(a.epochs_csv))
    if a.predictions_only: return keep_predictions(runs, a.seeds[0], Path(a.predictions))
    for seed in a.seeds:
        for arm in a.arms:
            if (arm, seed, ' '.join(a.settings)) in done_runs(csv_path): continue
            row = run(arm, seed, a.settings, runs)
            append_row(csv_path, row)
            print(f"{arm} seed {seed}: box mAP {row['box_map']}, mask mAP {row['mask_map'] or '-'}, {row['seconds']} s",
                  flush=True)
        if seed == a.seeds[0] and not a.no_predictions and not Path(a.predictions).exists():
            keep_predictions(runs, seed, Path(a.predictions))

if __name__ == '__main__': main()
