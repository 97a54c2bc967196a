"""A pytest plugin that runs each notebook's code cells in the test process, one test per cell, as nbval does.

nbval starts a Jupyter kernel per notebook: a new interpreter that imports torch, torchvision and gradaug again (about
5 s of CPU each, ~40 notebooks). Here the cells run in an IPython shell inside the pytest worker (execnb's
`CaptureShell`, what `nbdev_test` uses), which has imported them already. What is checked is what `--nbval-lax`
checks: every cell runs without an exception, cells marked `# NBVAL_SKIP` are skipped, and a cell marked
`# NBVAL_CHECK_OUTPUT` must print (and show) the text stored in the notebook. Each notebook gets a fresh namespace,
runs from its own folder, and leaves the process as it found it: working directory, `sys.path`, environment
variables, `__main__`, `sys.argv`, builtins, warning filters, signal handlers, torch's threads and defaults,
matplotlib's settings and figures.

Loaded by the repository's conftest.py, for every `.ipynb` file pytest is given (`make test` gives it _nbtest/, a copy
of nbs/, so that nbs/ stays clean).
"""
import builtins, copy, gc, os, signal, sys, traceback, warnings
from pathlib import Path
import pytest

SKIP, CHECK_OUTPUT = 'NBVAL_SKIP', 'NBVAL_CHECK_OUTPUT'


def pytest_collect_file(parent, file_path):
    if file_path.suffix != '.ipynb' or '.ipynb_checkpoints' in file_path.parts: return None
    return NotebookFile.from_parent(parent, path=file_path)


class ProcessState:
    """What a notebook (or code run in the test process, such as torchrun's elastic agent) may change in the process,
    saved, and put back afterwards."""
    SIGNALS = [getattr(signal, name) for name in ('SIGINT', 'SIGTERM', 'SIGALRM', 'SIGHUP', 'SIGQUIT')
               if hasattr(signal, name)]

    def __init__(self):
        import torch, matplotlib
        self.cwd, self.path, self.environ = os.getcwd(), list(sys.path), dict(os.environ)
        self.main, self.argv, self.builtins = sys.modules.get('__main__'), list(sys.argv), dict(vars(builtins))
        self.filters, self.showwarning = list(warnings.filters), warnings.showwarning
        self.hooks = (sys.displayhook, sys.excepthook)
        self.handlers = {s: signal.getsignal(s) for s in self.SIGNALS}
        self.torch = (torch.get_num_threads(), torch.get_default_dtype(), torch.is_grad_enabled(),
                      torch.are_deterministic_algorithms_enabled())
        self.rc = copy.deepcopy(dict(matplotlib.rcParams))

    def restore(self):
        import torch, matplotlib, matplotlib.pyplot as plt
        os.chdir(self.cwd)
        sys.path[:] = self.path
        # IPython makes its user module __main__; multiprocessing's spawn (DDP tests) needs the real one's __spec__
        if self.main is not None: sys.modules['__main__'] = self.main
        sys.argv[:] = self.argv
        for name in set(vars(builtins)) - set(self.builtins): delattr(builtins, name)
        for name, value in self.builtins.items(): setattr(builtins, name, value)
        os.environ.clear(); os.environ.update(self.environ)
        warnings.filters[:] = self.filters; warnings.showwarning = self.showwarning
        sys.displayhook, sys.excepthook = self.hooks
        for s, handler in self.handlers.items(): signal.signal(s, handler)
        threads, dtype, grad, deterministic = self.torch
        torch.set_num_threads(threads); torch.set_default_dtype(dtype); torch.set_grad_enabled(grad)
        torch.use_deterministic_algorithms(deterministic)
        torch.set_flush_denormal(False)
        plt.close('all')
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            matplotlib.rcParams.update(self.rc)


class NotebookFile(pytest.File):
    "A notebook: one `NotebookCell` per code cell, all run in one shell, in order."
    shell = state = None

    def collect(self):
        from execnb.nbio import read_nb      # plain JSON (nbformat's validator alone takes a second to import)
        nb = read_nb(self.path)
        code = [c for c in nb.cells if c.cell_type == 'code']
        for i, cell in enumerate(code): yield NotebookCell.from_parent(self, name=f'Cell {i}', cell=cell)

    def setup(self):
        from execnb.shell import CaptureShell
        self.state = ProcessState()
        os.chdir(self.path.parent)
        try: self.shell = CaptureShell(path=self.path.parent)
        finally: os.chdir(self.state.cwd)

    def teardown(self):
        from IPython.core.interactiveshell import InteractiveShell
        if self.shell is not None:
            self.shell.reset(new_session=False)
            self.shell = None
        InteractiveShell.clear_instance()
        if self.state is not None: self.state.restore()
        gc.collect()


class CellError(Exception):
    "A cell raised, or printed other text than the notebook holds."


class NotebookCell(pytest.Item):
    def __init__(self, *, cell, **kw):
        super().__init__(**kw)
        self.cell = cell

    def runtest(self):
        source = self.cell.source
        if SKIP in source: pytest.skip(f'# {SKIP}')
        os.chdir(self.path.parent)
        try:
            with warnings.catch_warnings(record=True):   # a cell's warnings stay with it (as in nbval's kernel)
                outputs = self.parent.shell.run(source)
        finally: os.chdir(self.parent.state.cwd)
        error = self.parent.shell.exc
        if error is not None:
            raise CellError(''.join(traceback.format_exception(type(error), error, error.__traceback__)))
        if CHECK_OUTPUT in source:
            want, got = shown_text(self.cell.get('outputs', [])), shown_text(outputs)
            if want != got: raise CellError(f'# {CHECK_OUTPUT}: the cell showed\n{got}\nbut the notebook holds\n{want}')

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, CellError):
            return f'{self.path.name}, {self.name}:\n{self.cell.source}\n\n{excinfo.value}'
        return super().repr_failure(excinfo)

    def reportinfo(self): return self.path, None, f'{self.path.name}::{self.name}'


def shown_text(outputs)->str:
    "The text a cell's outputs show: what it printed (stdout) and plain-text results, trailing spaces ignored."
    parts = []
    for o in outputs:
        if o.get('output_type') == 'stream' and o.get('name') == 'stdout': parts.append(_text(o.get('text', '')))
        elif 'text/plain' in o.get('data', {}): parts.append(_text(o['data']['text/plain']))
    return '\n'.join(line.rstrip() for line in ''.join(parts).splitlines())


def _text(t)->str: return ''.join(t) if isinstance(t, list) else t
