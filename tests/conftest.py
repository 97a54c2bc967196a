"""Helpers shared by the tests that run gradaug's commands, and `two_ranks` for the tests of two gloo processes.

`cli` runs a command in the test's own process, through the same argument parser its console script uses: fast, and
enough for everything but signals and process-level behaviour. `start_cli` runs it in a process of its own, forked
from the test's, for signals, locks and kills; `run_cli` runs the real console script in a new interpreter, for what
only that shows (the installed script itself, a fresh process's output)."""
import configparser, importlib, io, os, signal, socket, subprocess, sys, tempfile, time, traceback
from pathlib import Path
import pytest, torch
from fastcore.script import anno_parser

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = {'gradaug-train': ('gradaug.cli', 'train_main'), 'gradaug-eval': ('gradaug.cli', 'eval_main'),
            'gradaug-robustness': ('gradaug.robustness', 'robustness_main'),
            'gradaug-cam': ('gradaug.cam', 'cam_main'),
            'gradaug-detect': ('gradaug.detect', 'detect_main')}

def console_script(name:str):
    "The function the console script `name` calls (settings.ini's `console_scripts`, as the installed script has it)."
    settings = configparser.ConfigParser(delimiters=['='])
    settings.read(ROOT/'settings.ini')
    scripts = dict(s.split('=') for s in settings['DEFAULT']['console_scripts'].split())
    module, function = scripts[name].split(':')
    return getattr(importlib.import_module(module), function)

def command(name:str)->list:
    "How to run the console script `name` (a key of `COMMANDS`) of the current environment."
    script = Path(sys.executable).with_name(name)
    module, entry = COMMANDS[name]
    return [str(script)] if script.exists() else [sys.executable, '-c', f'from {module} import {entry}; {entry}()']

def run_cli(*args, cwd, prog='gradaug-train', timeout=180):
    "Run a command to completion in a subprocess; the CompletedProcess with text output."
    return subprocess.run(command(prog) + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)

class ForkedCommand:
    """A command running in a child forked from this process, as its console script runs it (`sys.exit(main())`
    with `console_script`'s function, `argv`, from `cwd`, Python's default signal handlers), its stdout and stderr in
    files of its own; the part of `subprocess.Popen` the tests use. Forked, not a new interpreter: the child starts
    with this process's imports (a new interpreter imports torch, torchvision and gradaug again, about 7 s of CPU),
    and it is still a process of its own for signals, kills and file locks."""
    def __init__(self, args:list, cwd, prog:str):
        main = console_script(prog)
        self.args, self.returncode = [prog, *map(str, args)], None
        self.files = [tempfile.TemporaryFile(mode='w+') for _ in range(2)]
        self.pid = os.fork()
        if self.pid == 0: self._child(main, cwd)

    def _child(self, main, cwd):
        "In the child: run `main` as the console script would, then end the process (no pytest teardown)."
        code = 1
        try:
            for fd, file in zip((1, 2), self.files): os.dup2(file.fileno(), fd)
            sys.stdout, sys.stderr = (io.TextIOWrapper(io.FileIO(fd, 'w', closefd=False), line_buffering=True)
                                      for fd in (1, 2))
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.chdir(cwd)
            sys.argv = self.args
            try: code = main()
            except SystemExit as e: code = e.code
            if code is None: code = 0
            elif not isinstance(code, int):
                print(code, file=sys.stderr)
                code = 1
        except BaseException: traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def poll(self):
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid: self.returncode = os.waitstatus_to_exitcode(status)   # -N: killed by signal N, as Popen's
        return self.returncode

    def wait(self, timeout:float=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.01)
        return self.returncode

    def send_signal(self, signum:int):
        if self.poll() is None: os.kill(self.pid, signum)

    def communicate(self, timeout:float=None)->tuple:
        "(stdout, stderr) once the child has ended."
        self.wait(timeout)
        texts = []
        for file in self.files:
            file.seek(0)
            texts.append(file.read())
            file.close()
        return tuple(texts)

def start_cli(*args, cwd, prog='gradaug-train')->ForkedCommand:
    "Start a command in the background, in a forked child (`ForkedCommand`)."
    return ForkedCommand(args, cwd, prog)

@pytest.fixture(autouse=True)
def fresh_process_runtime():
    "Every test ends with the process-wide torch settings that `apply_runtime` (any in-process run) may change put back."
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_flush_denormal(False)   # off when a process starts; on, denormal activations become 0 (R50 at random init)

@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    "Run one of `COMMANDS` in this process, from `tmp_path`: (exit status, stdout, stderr)."
    monkeypatch.chdir(tmp_path)
    def run(*args, prog='gradaug-train'):
        module, entry = COMMANDS[prog]
        main = getattr(importlib.import_module(module), entry).__wrapped__
        try: settings = vars(anno_parser(main, prog).parse_args([str(a) for a in args]))
        except SystemExit as e: return subprocess.CompletedProcess(args, e.code, *capsys.readouterr())
        for extra in ('pdb', 'xtra'): settings.pop(extra, None)
        threads = torch.get_num_threads()
        capsys.readouterr()
        try:
            main(**settings)
            code = 0
        except SystemExit as e: code = e.code if isinstance(e.code, int) else 1
        finally: torch.set_num_threads(threads)
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run

def pytest_configure(config):
    config.addinivalue_line('markers', "gpu: needs a CUDA GPU (settings.ini's tst_flags); skipped with a reason elsewhere")

def short_error(r, expected:str, prog:str=None):
    "A failed command whose whole stderr is a short message containing `expected` (prefixed `prog: error:`)."
    assert r.returncode == 1, (r.stdout, r.stderr)
    if prog is not None: assert r.stderr.startswith(f'{prog}: error: '), r.stderr
    assert expected in r.stderr and 'Traceback' not in r.stderr and len(r.stderr.splitlines()) <= 4, r.stderr

def free_port()->int:
    "A TCP port on 127.0.0.1 that nothing listens on now."
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]

def two_ranks(worker, *args):
    """Run `worker(rank, 2, port, *args)` in 2 processes forked from this one, and wait for both (a failure in either
    raises here). Forked, not spawned: a spawned process is a new interpreter that imports torch, torchvision and
    gradaug again (5-8 s of CPU each); a forked one starts with this process's modules. Each worker sets its own
    threads and seeds, joins the gloo group on `port`, and ends with `os._exit(0)`."""
    torch.multiprocessing.start_processes(worker, args=(2, free_port(), *args), nprocs=2, join=True,
                                          start_method='fork')
