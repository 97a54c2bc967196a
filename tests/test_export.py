"The package must be exactly what `nbdev_export` makes of the notebooks (they are the single source)."
import filecmp, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def test_package_matches_notebooks(tmp_path):
    for f in ('settings.ini', 'setup.py', 'README.md'): shutil.copy(ROOT/f, tmp_path/f)
    shutil.copytree(ROOT/'nbs', tmp_path/'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    exe = Path(sys.executable).parent/'nbdev_export'
    subprocess.run([str(exe)], cwd=tmp_path, check=True, capture_output=True)
    made = sorted(p.relative_to(tmp_path/'gradaug') for p in (tmp_path/'gradaug').rglob('*.py'))
    have = sorted(p.relative_to(ROOT/'gradaug') for p in (ROOT/'gradaug').rglob('*.py'))
    assert made == have, f"nbdev_export makes {made}, the repo has {have}"
    stale = [str(p) for p in made if not filecmp.cmp(tmp_path/'gradaug'/p, ROOT/'gradaug'/p, shallow=False)]
    assert not stale, f"gradaug/ is out of step with nbs/ for {stale}: edit the notebook and run nbdev_export"
