"""The test files of one notebook, for `make test-fast NB=<name>`: the notebook itself (as `make test` runs it, from
_nbtest/) and the files under tests/ that import the module it exports. Prints them on one line for pytest.

    python tools/fast_tests.py 00_slim      ->  _nbtest/00_slim.ipynb tests/test_slim_timm.py tests/test_slim_torchvision.py
"""
import re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def notebook(name:str)->Path:
    "The notebook under nbs/ that `name` names: its file name with or without '.ipynb', or the module it exports."
    stem = name.removesuffix('.ipynb')
    for path in sorted((ROOT/'nbs').rglob('*.ipynb')) if stem else []:
        if path.stem == stem or exported_module(path) == stem: return path
    names = ', '.join(p.stem for p in sorted((ROOT/'nbs').glob('[0-9]*.ipynb')))
    sys.exit(f"make test-fast: no notebook {name!r} in nbs/; give NB= one of: {names} (or the module it exports)")

def exported_module(path:Path)->str:
    "The module a notebook exports (its `#| default_exp`), or '' for a notebook that exports none."
    found = re.search(r'#\|\s*default_exp\s+([\w.]+)', path.read_text())
    return found[1] if found else ''

def tests_importing(module:str)->list:
    "The files under tests/ that import `gradaug.<module>` (by any of the usual import spellings)."
    pattern = re.compile(rf'\bgradaug\.{re.escape(module)}\b|from gradaug import [^\n]*\b{re.escape(module)}\b')
    return [p for p in sorted((ROOT/'tests').glob('test_*.py')) if pattern.search(p.read_text())]

if __name__ == '__main__':
    path = notebook(sys.argv[1])
    module = exported_module(path)
    tests = [p.relative_to(ROOT) for p in tests_importing(module)] if module else []
    print(' '.join(map(str, [Path('_nbtest')/path.relative_to(ROOT/'nbs'), *tests])))
