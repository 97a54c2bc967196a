"""The command lines as a new user meets them: resume by folder, init, gradaug-eval, one run per folder, short
messages instead of tracebacks, Ctrl-C that saves and says how to continue, warnings for silent divergence.

Most tests run the commands in this process (the `cli` fixture, through the console scripts' own argument parser);
the ones about processes (a real traceback-free stderr, a second process on a locked folder, a real Ctrl-C) start
the installed console script."""
import json, signal, time
from pathlib import Path
import pytest, torch, yaml
from gradaug.config import ConfigError
from gradaug.checkpoint import load_checkpoint
from conftest import ROOT, run_cli, start_cli, short_error
from quick_runs import no_plots, quick_epochs

# 100 labelled digits in batches of 10: 10 steps an epoch, each a few times cheaper than one of 50 digits
TINY = dict(dataset='digits', model='wrn10_1', epochs=2, low_labels=100, batch_size=10, n=1, alpha=0.8, lr=0.05,
            threads=1, progress=False, seed=3)

def tiny_config(folder:Path, **changes)->Path:
    path = folder/'tiny.yaml'
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def wait_for(path:Path, proc, seconds=120):
    deadline = time.time() + seconds
    while not path.exists() and proc.poll() is None and time.time() < deadline: time.sleep(0.02)
    ended = proc.poll() is not None
    assert path.exists(), f"{path} never appeared; the command: {proc.communicate()[1] if ended else 'still running'}"

def same_weights(a:Path, b:Path):
    wa, wb = load_checkpoint(a/'checkpoint.pt')['model'], load_checkpoint(b/'checkpoint.pt')['model']
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), k

# ---------------------------------------------------------------- resume, init, eval

def test_default_run_resumes_by_folder_and_refuses_unsafe_changes(tmp_path, cli, quick_epochs):
    r = cli('--config', tiny_config(tmp_path), 'epochs=1')
    assert r.returncode == 0, r.stderr
    run = next((tmp_path/'runs').iterdir())                        # runs/tiny-<timestamp>
    assert yaml.safe_load((run/'config.yaml').read_text())['out'] == str(Path('runs')/run.name)
    more = cli(f'resume={run}', 'epochs=2')
    assert more.returncode == 0, more.stderr
    assert f"resuming {run} at epoch 2 of 2, step 10" in more.stdout, more.stdout
    assert load_checkpoint(run/'checkpoint.pt')['global_step'] == 20
    assert yaml.safe_load((run/'config.yaml').read_text())['out'] == str(Path('runs')/run.name)   # as it was saved
    refused = cli(f'resume={run}', 'lr=0.5')
    short_error(refused, 'cannot change lr when resuming')
    assert f'init={run}' in refused.stderr                         # and says how to start from its weights instead

def test_init_and_eval(tmp_path, cli, no_plots):
    first, second = tmp_path/'first', tmp_path/'second'
    assert cli('--config', tiny_config(tmp_path), f'out={first}', 'epochs=1').returncode == 0
    r = cli('--config', tiny_config(tmp_path), f'out={second}', f'init={first}', 'epochs=1', 'lr=0.01')
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((second/'config.yaml').read_text())['init'] == str(first)
    ev = cli(second, '--json', tmp_path/'r.json', prog='gradaug-eval')
    assert ev.returncode == 0, ev.stderr
    result = json.loads((tmp_path/'r.json').read_text())
    history = json.loads((second/'metrics.json').read_text())['history']
    assert result['top1'] == pytest.approx(history[-1]['test_top1']) and result['images'] == 1000
    assert f"top-1 {result['top1']:.2f}%, top-5 {result['top5']:.2f}%" in ev.stdout, ev.stdout
    short_error(cli(second, 'lr=1', prog='gradaug-eval'), 'gradaug-eval cannot change lr')
    short_error(cli(tmp_path/'nowhere', prog='gradaug-eval'), 'does not exist')

def test_shipped_configs_by_name_and_listed(cli):
    r = cli('--list_configs')
    assert r.returncode == 0 and 'cifar100_wrn28_10_gradaug' in r.stdout and 'Table 3' in r.stdout, r.stderr
    whole = ("Table 3: WideResNet-28-10 on CIFAR-100, 200 epochs, batch 128, lr 0.1 cosine (per iteration), wd 5e-4, "
             "Nesterov; reflect-pad 4 + crop 32 + flip; n=3, alpha=0.8, random scale to 32/28/24.")
    assert whole in ' '.join(r.stdout.split()), r.stdout      # the whole description, wrapped, not cut
    r = cli('--list_settings')
    assert r.returncode == 0 and 'alpha' in r.stdout and 'in (0, 1]' in r.stdout
    r = cli('--config', 'imagenet_resnet50_gradaug', '--print_config')
    assert r.returncode == 0 and yaml.safe_load(r.stdout)['alpha'] == 0.9

# ---------------------------------------------------------------- one run per folder

def test_second_run_on_a_busy_folder_is_refused(tmp_path, cli):
    run, long_epoch = tmp_path/'run', tiny_config(tmp_path, epochs=1, steps_per_epoch=10_000)
    first = start_cli('--config', long_epoch, f'out={run}', cwd=tmp_path)
    wait_for(run/'.lock', first)                        # another process is in its (long) first epoch
    second = cli('--config', long_epoch, f'out={run}')
    first.send_signal(signal.SIGTERM)                   # then stop it: it saves and exits
    out, err = first.communicate(timeout=120)
    short_error(second, f"is in use by another run (process {first.pid}")
    assert first.returncode == 143 and 'stopped by SIGTERM' in err, err
    assert 'SIGTERM: stopping after the current step (then saving a checkpoint)' in err and 'Ctrl-C' not in err, err
    assert not (run/'.lock').exists()

# ---------------------------------------------------------------- short messages

def test_user_mistakes_give_short_messages(tmp_path, cli, quick_epochs):
    cfg = tiny_config(tmp_path, epochs=1)
    assert cli('--config', cfg, f'out={tmp_path/"run"}').returncode == 0
    ck = tmp_path/'run'/'checkpoint.pt'
    ck.write_bytes(ck.read_bytes()[:1000])                                  # a copy that did not finish
    (tmp_path/'broken.yaml').write_text("epochs: 2\nlr: [0.1\nn: 3\n")
    cases = {
        'damaged checkpoint': ([f'resume={tmp_path/"run"}'], 'is truncated or corrupted'),
        'out is a file': (['--config', cfg, f'out={cfg}'], 'as a run folder'),
        'out under a file': (['--config', cfg, f'out={cfg}/run'], 'NotADirectoryError'),
        'dataset offline': (['dataset=cifar10', f'data_root={tmp_path}', 'epochs=1'], 'pass download=True when online'),
        'malformed YAML': (['--config', tmp_path/'broken.yaml'], 'is not valid YAML at line 3, column 2'),
        'unknown setting': (['lrr=0.1'], "did you mean 'lr'"),
    }
    for what, (args, expected) in cases.items(): short_error(cli(*args), expected)
    with pytest.raises(ConfigError): cli('--config', tmp_path/'broken.yaml', '--debug')   # --debug: the exception
    with pytest.raises(ConfigError): cli('--config', tmp_path/'broken.yaml', 'debug=true')

def test_a_real_process_prints_no_traceback(tmp_path):
    (tmp_path/'broken.yaml').write_text("epochs: 2\nlr: [0.1\n")
    short_error(run_cli('--config', tmp_path/'broken.yaml', cwd=tmp_path), 'is not valid YAML')

def test_divergence_without_nan_is_warned(tmp_path, cli, no_plots):
    r = cli('--config', tiny_config(tmp_path, epochs=1, n=0), 'lr=20', 'momentum=0', 'nesterov=false',
            f'out={tmp_path/"run"}')
    assert r.returncode == 0, r.stderr                  # finite losses: the run ends, but says what went wrong
    assert 'warning: final test top-1' in r.stdout and 'chance level' in r.stdout, r.stdout

# ---------------------------------------------------------------- interruption

def test_ctrl_c_saves_says_how_to_resume_and_resumes_exactly(tmp_path, cli, quick_epochs):
    cfg = tiny_config(tmp_path, base_aug='cutmix', epochs=3, checkpoint_every=5)
    straight = cli('--config', cfg, f'out={tmp_path/"straight"}')
    assert straight.returncode == 0, straight.stderr
    run = tmp_path/'stopped'
    p = start_cli('--config', cfg, f'out={run}', cwd=tmp_path)
    wait_for(run/'checkpoint.pt', p)                    # step 5 of 30 is done
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err)
    assert 'stopped by SIGINT after step' in err and f'gradaug-train resume={run}' in err, err
    assert 'Traceback' not in err, err
    ck = load_checkpoint(run/'checkpoint.pt')
    assert 5 <= ck['global_step'] < 30, ck['global_step']  # saved when stopped, not at the end
    resumed = cli(f'resume={run}')
    assert resumed.returncode == 0, resumed.stderr
    same_weights(tmp_path/'straight', run)
