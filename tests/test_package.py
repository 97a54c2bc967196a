"""The package as a user gets it: the wheel installed into a fresh virtual environment and used from outside the
repository, its metadata, and JupyterLab on the notebooks. The fresh environment borrows this one's PyTorch (a `.pth`
file) so that the test does not download 5 GB; everything of gradaug's comes from the wheel."""
import configparser, json, os, shutil, signal, socket, subprocess, sys, time, urllib.request, zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = configparser.ConfigParser(delimiters=['='])
SETTINGS.read(ROOT/'settings.ini')
CFG = SETTINGS['DEFAULT']


@pytest.fixture(scope='module')
def wheel(tmp_path_factory)->Path:
    "The wheel built from a copy of the working tree: setuptools writes build/ beside the sources, never in the clone."
    out, source = tmp_path_factory.mktemp('wheel'), tmp_path_factory.mktemp('source')/'gradaug'
    skip = shutil.ignore_patterns('.git', '.venv*', '_nbtest', 'build', 'dist', '_proc', '_docs', '_preview',
                                  '*.egg-info', '__pycache__', '.pytest_cache')
    shutil.copytree(ROOT, source, ignore=skip)
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out),
                        str(source)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return next(out.glob('gradaug-*.whl'))


def test_wheel_ships_the_configs_and_commands(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.removeprefix('gradaug/configs/') for n in names if n.startswith('gradaug/configs/')}
    configs = ROOT/'gradaug'/'configs'
    assert shipped == {p.relative_to(configs).as_posix() for p in configs.rglob('*.yaml')} and len(shipped) >= 28
    assert 'detect/coco_maskrcnn_r50_fpn_1x_gradaug.yaml' in shipped             # gradaug-detect's, in a subfolder
    points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    for script in CFG['console_scripts'].split():
        name, target = script.split('=')
        assert f'{name} = {target}' in points


def test_metadata_agrees_with_settings(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    meta = Parser().parsestr(zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith('METADATA'))).decode())
    assert meta['Version'] == CFG['version']
    assert meta['Requires-Python'] == '>=' + CFG['min_python']
    runtime = {str(Requirement(r)) for r in meta.get_all('Requires-Dist') if Requirement(r).marker is None}
    assert runtime == {str(Requirement(r)) for r in CFG['requirements'].split()}
    statuses = {1: 'Planning', 2: 'Pre-Alpha', 3: 'Alpha', 4: 'Beta', 5: 'Production/Stable', 6: 'Mature',
                7: 'Inactive'}
    status = int(CFG['status'])
    assert f'Development Status :: {status} - {statuses[status]}' in meta.get_all('Classifier')


def _site_packages(python:Path)->Path:
    out = subprocess.run([str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                         capture_output=True, text=True, check=True).stdout
    return Path(out.strip())


# In the fresh environment, from outside the clone: a GradAug step on a torchvision model, then the installed
# console script (argv[1]) run with --help, with --print_config of a shipped config, and for a short training (argv[2]:
# its run folder), all in this one interpreter (each interpreter costs seconds of imports).
FRESH_ENV_CHECK = """
import contextlib, io, runpy, sys
import gradaug, torch, torchvision
from torch import nn
from gradaug.core import GradAug
script, run_folder = sys.argv[1:3]
print(gradaug.__file__)
model = torchvision.models.resnet18(num_classes=3)
res = GradAug(model, n=2, alpha=0.5).step(torch.randn(2, 3, 32, 32), torch.tensor([0, 2]), nn.CrossEntropyLoss())
assert model.fc.weight.grad is not None and len(res.sub_losses) == 2
def command_output(*args):
    sys.argv, out = [script, *args], io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try: code = runpy.run_path(script, run_name='__main__')
        except SystemExit as e: code = e.code
    assert code in (0, None), (args, code, out.getvalue())
    return out.getvalue()
assert 'resume=RUN_FOLDER' in command_output('--help')
assert 'model: wrn28_10' in command_output('--config', 'cifar100_wrn28_10_gradaug', '--print_config')
print(command_output('--config', 'digits', 'epochs=1', 'low_labels=100', 'batch_size=50', 'n=1', 'threads=1',
                     'progress=false', f'out={run_folder}'))
"""

def test_wheel_works_in_a_fresh_environment(wheel, tmp_path):
    venv = tmp_path/'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
    python, bin_dir = venv/'bin'/'python', venv/'bin'
    this_env = Path(next(p for p in sys.path if p.endswith('site-packages') and Path(p, 'torch').exists()))
    (_site_packages(python)/'borrowed_torch.pth').write_text(str(this_env) + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    # this environment's pip installs into the fresh one (`--python`), which needs no pip of its own (ensurepip: ~7 s);
    # --ignore-installed: the gradaug that the borrowed site-packages may hold (an editable install) is not this one
    r = subprocess.run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '-q', '--no-deps',
                        '--no-index', '--ignore-installed', str(wheel)], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert (_site_packages(python)/'gradaug'/'configs'/'digits.yaml').is_file()   # the wheel's, in the fresh one
    outside = tmp_path/'elsewhere'
    outside.mkdir()
    r = subprocess.run([str(python), '-c', FRESH_ENV_CHECK, str(bin_dir/'gradaug-train'), str(outside/'run')],
                       cwd=outside, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith(str(venv)), r.stdout            # gradaug came from the wheel, not from the clone
    assert 'final test top-1' in r.stdout, r.stdout
    assert json.loads((outside/'run'/'metrics.json').read_text())['history'][0]['epoch'] == 1


def _free_port()->int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_lab_serves_the_notebooks_with_this_environment_as_kernel():
    port = _free_port()
    options = f'--no-browser --ServerApp.port={port} --IdentityProvider.token= --ServerApp.ip=127.0.0.1'
    stamp = Path(sys.prefix)/'.installed'          # `make lab` in this environment, without re-installing it
    lab = subprocess.Popen(['make', '-s', 'lab', f'VENV={sys.prefix}', '-o', str(stamp), f'LAB_ARGS={options}'],
                           cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(120):
            try:
                specs = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/kernelspecs', timeout=2))
                break
            except OSError: time.sleep(0.5)
        else: pytest.fail('jupyter lab did not answer within 60 s')
        contents = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/api/contents', timeout=5))
        lab_page = urllib.request.urlopen(f'http://127.0.0.1:{port}/lab', timeout=5).read().decode()
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        lab.wait(timeout=30)
    assert 'JupyterLab' in lab_page
    assert {'00_slim.ipynb', 'index.ipynb', 'tutorials'} <= {c['name'] for c in contents['content']}
    kernel = specs['kernelspecs'][specs['default']]['spec']
    # 'python'/'python3' is ipykernel's own spec, which jupyter_client starts with the server's interpreter: this one
    assert kernel['argv'][0] in ('python', 'python3', sys.executable), kernel['argv']
    check = subprocess.run([sys.executable, '-c', 'import gradaug, torch'], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
