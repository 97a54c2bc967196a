"""The command lines as a new user meets them: resume by folder, init, gradaug-eval, one run per folder, short
messages instead of tracebacks, Ctrl-C/SIGTERM that save and say how to continue, warnings for silent divergence."""
import json, os, signal, subprocess, sys, time, zipfile
from pathlib import Path
import pytest, torch, yaml
from gradaug.checkpoint import load_checkpoint
from conftest import ROOT, run_cli, start_cli

TINY = dict(dataset='digits', model='wrn10_1', epochs=2, low_labels=500, batch_size=50, n=1, alpha=0.8, lr=0.05,
            threads=1, progress=False, seed=3)

def tiny_config(folder:Path, **changes)->Path:
    path = folder/'tiny.yaml'
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path

def no_traceback(r):
    assert 'Traceback' not in r.stderr, r.stderr
    return r.stderr

def wait_for(path:Path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and proc.poll() is None and time.time() < deadline: time.sleep(0.02)
    assert path.exists(), f"{path} never appeared; the command ended with {proc.poll()}: {proc.stderr.read()}"

def same_weights(a:Path, b:Path):
    wa, wb = load_checkpoint(a/'checkpoint.pt')['model'], load_checkpoint(b/'checkpoint.pt')['model']
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), k

# ---------------------------------------------------------------- resume, init, eval

def test_default_run_resumes_by_folder_and_refuses_unsafe_changes(tmp_path):
    r = run_cli('--config', tiny_config(tmp_path), 'epochs=1', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    run = next((tmp_path/'runs').iterdir())                        # runs/tiny-<timestamp>
    assert yaml.safe_load((run/'config.yaml').read_text())['out'] == str(Path('runs')/run.name)
    more = run_cli(f'resume={run}', 'epochs=2', cwd=tmp_path)
    assert more.returncode == 0, more.stderr
    assert f"resuming {run} at epoch 2 of 2, step 10" in more.stdout, more.stdout
    assert load_checkpoint(run/'checkpoint.pt')['global_step'] == 20
    refused = run_cli(f'resume={run}', 'lr=0.5', cwd=tmp_path)
    assert refused.returncode == 1 and 'cannot change lr when resuming' in no_traceback(refused)
    assert f'init={run}' in refused.stderr                         # and says how to start from its weights instead

def test_init_and_eval(tmp_path):
    first = tmp_path/'first'
    assert run_cli('--config', tiny_config(tmp_path), f'out={first}', 'epochs=1', cwd=tmp_path).returncode == 0
    second = tmp_path/'second'
    r = run_cli('--config', tiny_config(tmp_path), f'out={second}', f'init={first}', 'epochs=1', 'lr=0.01', cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((second/'config.yaml').read_text())['init'] == str(first)
    ev = run_cli(second, '--json', tmp_path/'r.json', cwd=tmp_path, prog='gradaug-eval')
    assert ev.returncode == 0, ev.stderr
    result = json.loads((tmp_path/'r.json').read_text())
    history = json.loads((second/'metrics.json').read_text())['history']
    assert result['top1'] == pytest.approx(history[-1]['test_top1']) and result['images'] == 1000
    assert f"top-1 {result['top1']:.2f}%, top-5 {result['top5']:.2f}%" in ev.stdout, ev.stdout
    bad = run_cli(second, 'lr=1', cwd=tmp_path, prog='gradaug-eval')
    assert bad.returncode == 1 and 'gradaug-eval cannot change lr' in no_traceback(bad)

def test_shipped_configs_by_name_and_listed(tmp_path):
    r = run_cli('--list_configs', cwd=tmp_path)
    assert r.returncode == 0 and 'cifar100_wrn28_10_gradaug' in r.stdout and 'Table 3' in r.stdout, r.stderr
    r = run_cli('--list_settings', cwd=tmp_path)
    assert r.returncode == 0 and 'alpha' in r.stdout and 'in (0, 1]' in r.stdout
    r = run_cli('--config', 'imagenet_resnet50_gradaug', '--print_config', cwd=tmp_path)
    assert r.returncode == 0 and yaml.safe_load(r.stdout)['alpha'] == 0.9

def test_wheel_ships_the_configs(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(tmp_path),
                        str(ROOT)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    names = zipfile.ZipFile(next(tmp_path.glob('gradaug-*.whl'))).namelist()
    shipped = {Path(n).name for n in names if n.startswith('gradaug/configs/')}
    assert shipped == {p.name for p in (ROOT/'gradaug'/'configs').glob('*.yaml')} and len(shipped) >= 28
    entry = [n for n in names if n.endswith('entry_points.txt')]
    points = zipfile.ZipFile(next(tmp_path.glob('gradaug-*.whl'))).read(entry[0]).decode()
    assert 'gradaug-train = gradaug.cli:train_main' in points and 'gradaug-eval = gradaug.cli:eval_main' in points

# ---------------------------------------------------------------- one run per folder

def test_second_run_on_a_busy_folder_is_refused(tmp_path):
    run, long_epoch = tmp_path/'run', tiny_config(tmp_path, epochs=1, steps_per_epoch=10_000)
    first = start_cli('--config', long_epoch, f'out={run}', cwd=tmp_path)
    wait_for(run/'.lock', first)                        # the first run is in its (long) first epoch
    second = run_cli('--config', long_epoch, f'out={run}', cwd=tmp_path)
    first.send_signal(signal.SIGTERM)                   # then stop the first one, which saves and exits
    out, err = first.communicate(timeout=120)
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert f"is in use by another run (process {first.pid}" in no_traceback(second)
    assert first.returncode == 143, err
    assert not (run/'.lock').exists()

# ---------------------------------------------------------------- short messages

def test_user_mistakes_give_short_messages(tmp_path):
    cfg = tiny_config(tmp_path, epochs=1)
    assert run_cli('--config', cfg, f'out={tmp_path/"run"}', cwd=tmp_path).returncode == 0
    ck = tmp_path/'run'/'checkpoint.pt'
    ck.write_bytes(ck.read_bytes()[:1000])                                  # a copy that did not finish
    cases = {
        'damaged checkpoint': ([f'resume={tmp_path/"run"}'], 'is truncated or corrupted'),
        'out is a file': (['--config', cfg, f'out={cfg}'], 'as a run folder'),
        'out under a file': (['--config', cfg, f'out={cfg}/run'], 'NotADirectoryError'),
        'dataset offline': (['dataset=cifar10', f'data_root={tmp_path}', 'epochs=1'], 'pass download=True when online'),
    }
    (tmp_path/'broken.yaml').write_text("epochs: 2\nlr: [0.1\nn: 3\n")
    cases['malformed YAML'] = (['--config', tmp_path/'broken.yaml'], 'is not valid YAML at line 3, column 2')
    for what, (args, expected) in cases.items():
        r = run_cli(*args, cwd=tmp_path)
        assert r.returncode == 1, (what, r.stdout, r.stderr)
        err = no_traceback(r)
        assert expected in err and len(err.splitlines()) <= 4, (what, err)
    debug = run_cli('--config', tmp_path/'broken.yaml', '--debug', cwd=tmp_path)
    assert debug.returncode == 1 and 'Traceback' in debug.stderr and 'ConfigError' in debug.stderr
    debug = run_cli('--config', tmp_path/'broken.yaml', 'debug=true', cwd=tmp_path)
    assert 'Traceback' in debug.stderr

def test_divergence_without_nan_is_warned(tmp_path):
    r = run_cli('--config', tiny_config(tmp_path, epochs=1, n=0), 'lr=20', 'momentum=0', 'nesterov=false',
                f'out={tmp_path/"run"}', cwd=tmp_path)
    assert r.returncode == 0, r.stderr                  # finite losses: the run ends, but says what went wrong
    assert 'warning: final test top-1' in r.stdout and 'chance level' in r.stdout, r.stdout

# ---------------------------------------------------------------- interruption

@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_saves_says_how_to_resume_and_resumes_exactly(tmp_path, signum):
    cfg = tiny_config(tmp_path, base_aug='cutmix', epochs=3, checkpoint_every=5)
    straight = run_cli('--config', cfg, f'out={tmp_path/"straight"}', cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr
    run = tmp_path/'stopped'
    p = start_cli('--config', cfg, f'out={run}', cwd=tmp_path)
    wait_for(run/'checkpoint.pt', p)                    # step 5 of 30 is done
    p.send_signal(signum)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + signum, (p.returncode, err)
    assert f'stopped by {signum.name} after step' in err and f'gradaug-train resume={run}' in err, err
    assert 'Traceback' not in err, err
    ck = load_checkpoint(run/'checkpoint.pt')
    assert 5 <= ck['global_step'] < 30, ck['global_step']  # saved when stopped, not at the end
    resumed = run_cli(f'resume={run}', cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    same_weights(tmp_path/'straight', run)
