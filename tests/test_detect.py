"""`gradaug-detect` as a user meets it (issue 8): a run from the command line, resume after a real interruption that
continues exactly, short errors for bad input, and a short overfit that shows the detector learns.

Every run is tiny (Faster or Mask R-CNN R18-FPN on 64-pixel digit canvases, a few steps, one thread), so the file
takes about a minute and a half on a 2-core CPU. One uninterrupted run (`whole`, a module fixture) serves the resume
check as its reference and the bad-input checks as an existing run folder."""
import contextlib, io, signal, subprocess, time
from pathlib import Path
import pytest, torch, yaml
from fastcore.script import anno_parser
from gradaug.checkpoint import load_checkpoint
from gradaug.config import load_config
from gradaug.detect import DetectConfig, DetectTrainer, detect_main
from gradaug.detection_data import detection_loader
from gradaug.runtime import seed_everything
from conftest import short_error, start_cli

TINY = dict(arch='fasterrcnn_resnet18_fpn', train_images=4, test_images=2, canvas=64, min_size=64, max_size=64,
            batch_size=2, eval_batch_size=2, epochs=2, proposals=50, rois_per_image=16, n=1, lr=0.005,
            warmup_epochs=0, threads=1, progress=False, seed=2)

def tiny_config(folder:Path, **changes)->Path:
    path = folder/'tiny.yaml'
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path

def detect_here(*args)->subprocess.CompletedProcess:
    """gradaug-detect in this process, its arguments parsed as its console script parses them: the `cli` fixture's way,
    for a module fixture, which cannot use the per-test `cli`. (exit status, stdout, stderr)."""
    settings = vars(anno_parser(detect_main.__wrapped__, 'gradaug-detect').parse_args([str(a) for a in args]))
    for extra in ('pdb', 'xtra'): settings.pop(extra, None)
    out, err, threads = io.StringIO(), io.StringIO(), torch.get_num_threads()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            detect_main.__wrapped__(**settings)
            code = 0
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
        finally: torch.set_num_threads(threads)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())

@pytest.fixture(scope='module')
def whole(tmp_path_factory):
    "(config file, run folder, completed command) of an uninterrupted run: 2 epochs of 2 steps, checkpoints every step."
    folder = tmp_path_factory.mktemp('whole')
    config = tiny_config(folder, epochs=2, checkpoint_every=1)
    return config, folder/'run', detect_here('--config', config, f'out={folder/"run"}')

def same_weights(a:Path, b:Path):
    wa, wb = load_checkpoint(a/'checkpoint.pt')['model'], load_checkpoint(b/'checkpoint.pt')['model']
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), k

# ---------------------------------------------------------------- the command, end to end

def test_gradaug_detect_runs_a_mask_rcnn_and_reports_map(tmp_path, cli):
    "(10 detections per test image: the untrained mask head would segment 100: 2.6 s an evaluation, not 0.3.)"
    r = cli('--config', tiny_config(tmp_path, arch='maskrcnn_resnet18_fpn', epochs=1, detections=10),
            f'out={tmp_path/"run"}', prog='gradaug-detect')
    assert r.returncode == 0, r.stderr
    assert 'final test box mAP' in r.stdout and 'mask mAP' in r.stdout, r.stdout
    assert f"continue:   gradaug-detect resume={tmp_path/'run'}" in r.stdout, r.stdout
    for name in ('checkpoint.pt', 'config.yaml', 'metrics.csv', 'metrics.json', 'learning_curve.png'):
        assert (tmp_path/'run'/name).is_file(), name
    state = load_checkpoint(tmp_path/'run'/'checkpoint.pt')
    assert state['global_step'] == 2 and state['config']['arch'] == 'maskrcnn_resnet18_fpn'
    assert {'box_map', 'mask_map', 'train_sub_loss'} <= set(state['history'][-1])
    # the run given to the other commands: gradaug-eval evaluates it; the classifier commands name gradaug-detect
    ev = cli(tmp_path/'run', prog='gradaug-eval')
    assert ev.returncode == 0, ev.stderr
    last = state['history'][-1]
    assert f"box mAP {last['box_map']:.3f}" in ev.stdout and f"mask mAP {last['mask_map']:.3f}" in ev.stdout, ev.stdout
    short_error(cli(f"resume={tmp_path/'run'}", 'epochs=2'),
                f"holds a run of gradaug-detect, not of gradaug-train: continue it with `gradaug-detect resume=")
    short_error(cli(tmp_path/'run', '--out', tmp_path/'cam.png', prog='gradaug-cam'),
                'was written by gradaug-detect, not by gradaug-train')

def test_listing_and_print_config(cli):
    r = cli('--list_configs', prog='gradaug-detect')
    assert r.returncode == 0 and 'coco_maskrcnn_r50_fpn_1x_gradaug' in r.stdout and 'Table 7' in r.stdout
    assert 'cifar100' not in r.stdout                          # gradaug-train's configs are not listed here
    r = cli('--list_settings', prog='gradaug-detect')
    assert r.returncode == 0 and 'min_size' in r.stdout and 'low_labels' not in r.stdout
    r = cli('--config', 'coco_maskrcnn_r50_fpn_1x_gradaug', 'batch_size=8', '--print_config', prog='gradaug-detect')
    printed = yaml.safe_load(r.stdout)
    assert (printed['min_size'], printed['max_size'], printed['batch_size'], printed['n']) == (600, 1000, 8, 3)
    r = cli('--print_config', prog='gradaug-detect')                # no arguments: the digit-canvas demo
    demo = load_config('digits_fasterrcnn_r18_fpn_gradaug', cls=DetectConfig)
    assert DetectConfig(**yaml.safe_load(r.stdout)) == demo.replace(name='detect_digits')

# ---------------------------------------------------------------- resume after a real interruption

def test_sigterm_then_resume_continues_exactly(whole, tmp_path, cli):
    """A process of its own (`start_cli`: forked, running the console script's function) stopped by SIGTERM after its
    first checkpoint, then resumed: it ends with the weights and the box mAPs of the uninterrupted run of the same
    config."""
    config, reference, run = whole
    assert run.returncode == 0, run.stderr
    cut = tmp_path/'cut'
    proc = start_cli('--config', config, f'out={cut}', cwd=tmp_path, prog='gradaug-detect')
    for _ in range(6000):                                           # until the first checkpoint is written
        if (cut/'checkpoint.pt').exists() or proc.poll() is not None: break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, (out, err)
    assert f'gradaug-detect resume={cut}' in err, err                 # says how to continue
    stopped_at = load_checkpoint(cut/'checkpoint.pt')['global_step']
    assert 1 <= stopped_at < 4, stopped_at
    more = cli(f'resume={cut}', prog='gradaug-detect')
    assert more.returncode == 0, more.stderr
    assert f'resuming {cut}' in more.stdout, more.stdout
    assert load_checkpoint(cut/'checkpoint.pt')['global_step'] == 4
    same_weights(reference, cut)
    saved = load_checkpoint(reference/'checkpoint.pt')['history']
    resumed = load_checkpoint(cut/'checkpoint.pt')['history']
    assert len(saved) == 2 and [r['box_map'] for r in saved] == [r['box_map'] for r in resumed]

# ---------------------------------------------------------------- bad input: one short message each

def test_bad_input_gives_short_errors(whole, tmp_path, cli):
    config, run, done = whole                                       # a finished run: its folder holds a run
    detect = lambda *a: cli(*a, prog='gradaug-detect')
    short_error(detect('min_sise=64'), "did you mean 'min_size'?", 'gradaug-detect')
    short_error(detect('arch=yolo'), "arch='yolo' is not", 'gradaug-detect')
    short_error(detect('min_size=800', 'max_size=600'), 'min_size=800 must be at most max_size=600', 'gradaug-detect')
    short_error(detect('alpha=0'), 'alpha=0.0 must be in (0, 1]', 'gradaug-detect')
    short_error(detect('--config', 'cifar100_wrn28_10_gradaug'), 'gradaug-detect --list_configs', 'gradaug-detect')
    short_error(detect(f'resume={tmp_path}'), 'no config.yaml there', 'gradaug-detect')
    short_error(detect('dataset=coco', f'data_root={tmp_path/"no_coco"}', 'out=x'), 'coco', 'gradaug-detect')
    assert done.returncode == 0, done.stderr
    short_error(detect('--config', config, 'epochs=3', f'out={run}'), 'already holds a run', 'gradaug-detect')
    short_error(detect(f'resume={run}', 'lr=0.5'), 'cannot change lr when resuming', 'gradaug-detect')
    short_error(detect('--config', config, f'init={tmp_path/"nowhere"}', 'out=y'), 'nowhere', 'gradaug-detect')

# ---------------------------------------------------------------- the detector learns

OVERFIT_STEPS, OVERFIT_LR, OVERFIT_BOX_MAP = 16, 0.02, 0.5

def test_short_overfit_raises_box_map(tmp_path):
    """Faster R-CNN R18-FPN with GradAug (n=1) trained for 16 steps at lr 0.02 (4 epochs of 4 steps, 2 of warmup;
    32 ROIs per image) on 4 training canvases (one digit each, all 4 in every batch) and tested on the same 4: box mAP
    (COCO's, IoU 0.5:0.95) goes from below 0.1 to at least 0.5. Measured with these settings, one thread, on this
    project's 2-core CPU: 0.007 before, 0.675 after (0.375 after 8 steps; 40 steps at lr 0.005 reached 0.800)."""
    cfg = DetectConfig(**{**TINY, 'batch_size': 4, 'epochs': 4, 'steps_per_epoch': OVERFIT_STEPS // 4,
                          'lr': OVERFIT_LR, 'warmup_epochs': 0.5, 'max_digits': 1, 'rois_per_image': 32},
                       out=str(tmp_path/'overfit'))
    seed_everything(cfg.seed)
    trainer = DetectTrainer(cfg, log=lambda s: None)
    trainer.test_loader = detection_loader(trainer.train_loader.dataset, 4, shuffle=False, seed=cfg.seed)
    before = trainer.task.columns(trainer.evaluate())['box_map']
    trainer.fit()
    after = trainer.history[-1]['box_map']                       # the last epoch's evaluation: the trained detector's
    assert trainer.global_step == OVERFIT_STEPS
    assert before < 0.1 and after >= OVERFIT_BOX_MAP, (before, after)
