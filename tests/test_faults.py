"""What a new user still meets (issue 22): each fault ends in a short message, the right exit status, and a run folder
that is left as it was.

Every test runs the commands in this process (conftest's `cli`); the finished run they need is trained once, by the
`finished` fixture, and copied where a test changes it."""
import errno, os, shutil, socket, sys, tempfile
from pathlib import Path
import pytest, torch, yaml
from gradaug.checkpoint import RunLock
from gradaug.config import load_config
from gradaug.train import train
from conftest import short_error

TINY = dict(dataset='digits', model='wrn10_1', epochs=1, steps_per_epoch=3, low_labels=500, batch_size=50, n=1,
            alpha=0.8, lr=0.05, threads=1, progress=False, seed=3)

@pytest.fixture(scope='module')
def finished(tmp_path_factory)->Path:
    "The folder of one finished tiny run (1 epoch of 3 steps), shared: copy it before changing it."
    tmp = tmp_path_factory.mktemp('finished')
    (tmp/'tiny.yaml').write_text(yaml.safe_dump(TINY))
    threads = torch.get_num_threads()
    try: train(load_config(tmp/'tiny.yaml', [f'out={tmp/"run"}']), log=lambda *args, **kwargs: None)
    finally: torch.set_num_threads(threads)
    return tmp/'run'

def tiny_config(folder:Path, **changes)->Path:
    path = folder/'tiny.yaml'
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path

def snapshot(folder:Path)->dict:
    "Every file under `folder` with its bytes and modification time."
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob('*') if p.is_file()}

def read_only(folder:Path, monkeypatch):
    "Make `folder` read-only; as root, whom file modes do not stop, make creating a file in it fail as they would."
    folder.chmod(0o555)
    if os.geteuid() != 0: return
    create = tempfile.mkstemp
    def refused(*args, dir=None, **kwargs):
        if dir is not None and Path(dir).resolve() == folder.resolve():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return create(*args, dir=dir, **kwargs)
    monkeypatch.setattr(tempfile, 'mkstemp', refused)

def no_data(monkeypatch, task_class):
    "Loading the data fails the test: a fault must be found before it."
    def loaders(self): raise AssertionError("the data was loaded before the fault was found")
    monkeypatch.setattr(task_class, 'loaders', loaders)

# ---------------------------------------------------------------- 1, 8: run folders

def test_read_only_run_folder_is_refused_before_the_data(tmp_path, cli, monkeypatch, finished):
    from gradaug.classify import ClassificationTask
    from gradaug.detect import DetectionTask
    no_data(monkeypatch, ClassificationTask); no_data(monkeypatch, DetectionTask)
    (tmp_path/'ro').mkdir()
    shutil.copytree(finished, tmp_path/'ro_run')
    before = snapshot(tmp_path/'ro_run')
    for folder in (tmp_path/'ro', tmp_path/'ro_run'): read_only(folder, monkeypatch)
    try:
        short_error(cli('--config', tiny_config(tmp_path), f'out={tmp_path/"ro"}'), 'cannot write in')
        short_error(cli(f'resume={tmp_path/"ro_run"}', 'epochs=2'), 'cannot write in')
        short_error(cli('epochs=1', f'out={tmp_path/"ro"}', prog='gradaug-detect'), 'cannot write in')
    finally:
        for folder in (tmp_path/'ro', tmp_path/'ro_run'): folder.chmod(0o755)
    assert snapshot(tmp_path/'ro_run') == before and not list((tmp_path/'ro').iterdir())

def test_lock_is_the_kernels_not_a_guess_from_pids(tmp_path):
    run = tmp_path/'run'
    run.mkdir()
    (run/'.lock').write_text(f"{os.getppid()} {socket.gethostname()} 2026-01-01 00:00:00")   # a live pid, no lock
    with RunLock(run) as lock: assert (run/'.lock').read_text().split()[0] == str(os.getpid())
    assert not (run/'.lock').exists()

def test_resume_of_a_run_still_starting_names_its_process(tmp_path, cli, finished):
    starting = tmp_path/'starting'                       # a run that has written its config, not yet a checkpoint
    starting.mkdir()
    shutil.copy(finished/'config.yaml', starting/'config.yaml')
    with RunLock(starting):                              # held by this process, as the starting run would hold it
        short_error(cli(f'resume={starting}'), f"is in use by another run (process {os.getpid()}")

# ---------------------------------------------------------------- 2, 9a, 9g: files that are not checkpoints, init=

def test_files_that_are_not_checkpoints_are_named(tmp_path, cli, finished):
    (tmp_path/'text.pt').write_text('hello\n')
    torch.save(torch.load(finished/'checkpoint.pt')['model'], tmp_path/'weights.pt')
    whole = (finished/'checkpoint.pt').read_bytes()
    (tmp_path/'cut.pt').write_bytes(whole[:len(whole) // 2])
    cases = {tmp_path/'text.pt': "is not a checkpoint: it is a text file (it starts with 'hello')",
             finished/'config.yaml': f"is a YAML file (a run's config.yaml?); give the run folder instead, e.g. {finished}",
             tmp_path/'weights.pt': 'is a plain state_dict',
             tmp_path/'cut.pt': 'is truncated or corrupted'}
    for path, expected in cases.items():
        r = cli(path, prog='gradaug-eval')
        short_error(r, expected, 'gradaug-eval')
        assert 'weights_only' not in r.stderr and len(r.stderr.splitlines()) == 2, r.stderr   # message + --debug hint
    short_error(cli(finished/'config.yaml', '--out', tmp_path/'o', prog='gradaug-robustness'), 'is a YAML file')
    short_error(cli(tmp_path/'text.pt', '--out', tmp_path/'cam.png', prog='gradaug-cam'), 'is a text file')
    for out in (f'out={tmp_path/"new"}', None):           # a new folder, or runs/NAME-TIME: none is left behind
        args = ['--config', tiny_config(tmp_path), f'init={tmp_path/"text.pt"}'] + ([out] if out else [])
        short_error(cli(*args), 'is not a checkpoint: it is a text file')
    assert not (tmp_path/'new').exists() and not (tmp_path/'runs').exists()

def test_init_says_what_it_loaded_and_a_long_warmup_is_cut(tmp_path, cli, finished):
    r = cli('--config', tiny_config(tmp_path), f'init={finished}', 'warmup_epochs=1', f'out={tmp_path/"run"}')
    assert r.returncode == 0, r.stderr
    tensors = len(torch.load(finished/'checkpoint.pt')['model'])
    assert f"init: loaded {tensors} of {tensors} tensors from {finished/'checkpoint.pt'}" in r.stdout, r.stdout
    assert "note: warmup_epochs=1 is not shorter than the run (epochs=1): the lr warms up over the first 0.5" in r.stdout

# ---------------------------------------------------------------- 3: gradaug-robustness --out

def test_robustness_out_is_checked_before_any_work(tmp_path, cli, monkeypatch, finished):
    import gradaug.robustness
    def load_models(*args, **kwargs): raise AssertionError("the models were loaded before --out was checked")
    monkeypatch.setattr(gradaug.robustness, 'load_models', load_models)
    (tmp_path/'file').write_text('x')
    (tmp_path/'ro').mkdir()
    read_only(tmp_path/'ro', monkeypatch)
    try:
        for out, expected in ((tmp_path/'file', 'is a file, not a folder'), (tmp_path/'file'/'sub', 'is a file'),
                              (tmp_path/'ro', 'cannot write in'), (tmp_path/'ro'/'sub', 'cannot write in')):
            short_error(cli(finished, '--out', out, prog='gradaug-robustness'), expected, 'gradaug-robustness')
    finally: (tmp_path/'ro').chmod(0o755)

# ---------------------------------------------------------------- 6: lengths

def test_a_short_run_is_not_refused_and_a_range_error_comes_alone(cli):
    r = cli('epochs=1', '--print_config', prog='gradaug-detect')   # its warmup_epochs=1 is cut, not refused
    assert r.returncode == 0 and yaml.safe_load(r.stdout)['warmup_epochs'] == 1.0, r.stderr
    r = cli('epochs=-1', '--print_config')
    short_error(r, 'epochs=-1 must be >= 1')
    assert 'warmup' not in r.stderr and 'milestones' not in r.stderr, r.stderr
    r = cli('epochs=2', 'schedule=multistep', 'milestones=[1,5]', '--print_config')   # 5: after the run, harmless
    assert r.returncode == 0, r.stderr

# ---------------------------------------------------------------- 7: a finished run, resumed

def test_resuming_a_finished_run_touches_nothing(tmp_path, cli, finished):
    run = tmp_path/'run'
    shutil.copytree(finished, run)
    before = snapshot(run)
    r = cli(f'resume={run.resolve()}')                   # an absolute path, where the config saved another spelling
    assert r.returncode == 0, r.stderr
    assert "already finished at epoch 1; add epochs=N" in r.stdout and ' at epoch 2 of 1' not in r.stdout, r.stdout
    assert snapshot(run) == before

# ---------------------------------------------------------------- 9c: Ctrl-C while a command starts

class _InterruptedImport:
    "A meta-path finder that raises KeyboardInterrupt while `gradaug.cli` is imported, as a Ctrl-C then would."
    def find_spec(self, name, path=None, target=None):
        if name == 'gradaug.cli': raise KeyboardInterrupt
        return None

def test_ctrl_c_while_starting_is_one_line(monkeypatch, capsys):
    from gradaug.__main__ import gradaug_train
    monkeypatch.delitem(sys.modules, 'gradaug.cli', raising=False)
    monkeypatch.setattr(sys, 'meta_path', [_InterruptedImport()] + sys.meta_path)
    with pytest.raises(SystemExit) as stopped: gradaug_train()
    assert stopped.value.code == 130
    err = capsys.readouterr().err
    assert err.strip() == 'gradaug-train: stopped by SIGINT while starting; nothing was done', err

def test_console_scripts_read_their_command_line(monkeypatch, capsys):
    from gradaug.__main__ import gradaug_train
    monkeypatch.setattr(sys, 'argv', ['gradaug-train', '--print_config', 'epochs=7'])
    gradaug_train()
    assert 'epochs: 7' in capsys.readouterr().out
