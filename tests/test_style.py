"Checks on the exported code that a reader notices: line length, and `@patch` never reusing a module-level name."
import ast
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p for p in (ROOT/'gradaug').glob('*.py') if p.name != '_modidx.py')

@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_lines_at_most_120_characters(path):
    long = [(i, len(l)) for i, l in enumerate(path.read_text().splitlines(), 1)
            if len(l) > 120 and not l.startswith('__all__')]
    assert not long, f"{path.name}: lines longer than 120 characters (line, length): {long}"

def _patched_and_bound(tree:ast.Module)->tuple:
    "(names of @patch functions, other names bound at module level)."
    patched, bound = set(), set()
    for node in tree.body:
        decorators = {getattr(d, 'id', getattr(d, 'attr', None)) for d in getattr(node, 'decorator_list', [])}
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and 'patch' in decorators: patched.add(node.name)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)): bound |= {(a.asname or a.name).split('.')[0] for a in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            bound |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return patched, bound

@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_patch_never_reuses_a_module_level_name(path):
    # fastcore's `patch` returns None in some allowed versions (1.7.x), rebinding the module-level name it decorates
    patched, bound = _patched_and_bound(ast.parse(path.read_text()))
    assert not patched & bound, f"{path.name}: @patch functions named like module-level objects: {patched & bound}"

def test_the_check_catches_the_old_collision():
    old = "from fastcore.basics import patch\ndef evaluate(m): pass\nclass T: pass\n@patch\ndef evaluate(self:T): pass\n"
    assert _patched_and_bound(ast.parse(old))[0] & _patched_and_bound(ast.parse(old))[1] == {'evaluate'}
