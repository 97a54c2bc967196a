"""The helpers behind `make test-fast` and `make test-durations`."""
import subprocess, sys, xml.etree.ElementTree as ET
from conftest import ROOT
sys.path.insert(0, str(ROOT/'tools'))
import fast_tests, test_durations

def test_fast_tests_finds_a_notebook_by_name_or_module_and_the_tests_importing_it():
    assert fast_tests.notebook('00_slim') == fast_tests.notebook('slim') == ROOT/'nbs'/'00_slim.ipynb'
    assert fast_tests.notebook('launch') == ROOT/'nbs'/'tutorials'/'launch.ipynb'
    tests = {p.name for p in fast_tests.tests_importing('slim')}
    assert {'test_slim_torchvision.py', 'test_slim_timm.py'} <= tests and 'test_style.py' not in tests
    r = subprocess.run([sys.executable, ROOT/'tools'/'fast_tests.py', 'nope'], capture_output=True, text=True)
    assert r.returncode == 1 and "no notebook 'nope'" in r.stderr and '00_slim' in r.stderr and not r.stdout

def test_durations_are_summed_per_file_and_named_as_conftest_looks_them_up(tmp_path):
    suite = ET.Element('testsuite')
    for classname, seconds in [('tests.test_cli', 1.5), ('tests.test_cli', 2.0), ('_nbtest.05_core.ipynb', 7.0),
                               ('_nbtest.tutorials.launch.ipynb', 0.5)]:
        ET.SubElement(suite, 'testcase', classname=classname, name='t', time=str(seconds))
    ET.ElementTree(suite).write(tmp_path/'junit.xml')
    table = test_durations.file_seconds(tmp_path/'junit.xml')
    assert table == {'nbs/05_core.ipynb': 7.0, 'tests/test_cli.py': 3.5, 'nbs/tutorials/launch.ipynb': 0.5}
    assert list(table) == ['nbs/05_core.ipynb', 'tests/test_cli.py', 'nbs/tutorials/launch.ipynb']   # slowest first


def test_a_notebook_shell_leaves_the_process_as_it_found_it(tmp_path, monkeypatch):
    """What an in-process notebook changes (IPython's __main__, the cwd, the environment, torch threads, signal handlers
    such as the SIGHUP that torchrun's agent installs) is put back."""
    import os, signal, torch
    from execnb.shell import CaptureShell
    from notebook_items import ProcessState
    main, threads = sys.modules['__main__'], torch.get_num_threads()
    state = ProcessState()
    shell = CaptureShell(path=tmp_path)
    shell.run(f"import os, torch; os.chdir({str(tmp_path)!r}); os.environ['GRADAUG_NB_PROBE'] = '1'; "
              f"torch.set_num_threads({threads + 1})")
    assert shell.exc is None and sys.modules['__main__'] is not main   # IPython's user module, no __spec__
    hangup = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, lambda *args: None)
    state.restore()
    assert signal.getsignal(signal.SIGHUP) == hangup
    assert sys.modules['__main__'] is main
    assert os.getcwd() == state.cwd and 'GRADAUG_NB_PROBE' not in os.environ and torch.get_num_threads() == threads
