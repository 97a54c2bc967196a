"""Train the reference digit models that the robustness notebook (and the CAM notebook) load without training.

Three recipes on the embedded MNIST digits (4,000 train / 1,000 test), each with the shipped `digits` config
(WRN-10-1, 5 epochs) and `gradaug-train`'s key=value overrides:

    baseline        gradaug-train --config digits n=0                  plain training
    gradaug         gradaug-train --config digits                      GradAug (n=3, alpha=0.8, scales 28/24/20)
    gradaug_mixup   gradaug-train --config digits base_aug=mixup       GradAug with Mixup first (the paper's GradAug*)

for seeds 0 to 4. Each run's checkpoint is kept without its optimizer and random states
(what `load_model` and `gradaug-eval` need: weights, config, model info, epoch, step and history) as
nbs/_reference_models/{recipe}-s{seed}.pt.
Runs are ordered seed by seed, so an interrupted regeneration leaves whole seeds behind.

    python tools/train_reference_models.py [--seeds 5] [--first 0] [--threads 1]
    python tools/train_reference_models.py --first 5 --seeds 2     # add seeds 5 and 6
"""
import argparse, subprocess, sys, tempfile, time
from pathlib import Path
from gradaug.checkpoint import load_checkpoint, save_checkpoint

RECIPES = {'baseline': ['n=0'], 'gradaug': [], 'gradaug_mixup': ['base_aug=mixup']}
KEEP = ('model', 'config', 'model_info', 'epoch', 'global_step', 'history')
ROOT = Path(__file__).resolve().parents[1]

def train_command(recipe:str, seed:int, out:Path, threads:int)->list:
    "The gradaug-train command line of one reference run."
    script = Path(sys.executable).with_name('gradaug-train')
    return [str(script), '--config', 'digits', *RECIPES[recipe], f'seed={seed}', f'out={out}', f'threads={threads}',
            'progress=false']

def keep_small(run:Path, path:Path)->Path:
    "Save the parts of a run's checkpoint that loading the model needs, at `path`."
    state = load_checkpoint(run/'checkpoint.pt')
    return save_checkpoint({k: state[k] for k in KEEP}, path)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--first', type=int, default=0, help='the first seed (to add seeds to those already there)')
    p.add_argument('--recipes', nargs='*', default=list(RECIPES), choices=list(RECIPES))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--out', default=str(ROOT/'nbs'/'_reference_models'))
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as runs:
        for seed in range(a.first, a.first + a.seeds):
            for recipe in a.recipes:
                run, t0 = Path(runs)/f'{recipe}-s{seed}', time.time()
                command = train_command(recipe, seed, run, a.threads)
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                path = keep_small(run, out/f'{recipe}-s{seed}.pt')
                top1 = load_checkpoint(path)['history'][-1]['test_top1']
                print(f"{path.name}: test top-1 {top1:.2f}% in {time.time() - t0:.0f} s "
                      f"({path.stat().st_size / 1e3:.0f} kB)", flush=True)
