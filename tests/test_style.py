"Checks on the exported code that a reader notices: line length, and `@patch` never reusing a module-level name."
import ast, sys
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

# --- the import structure ----------------------------------------------------------------------------------------------

def _gradaug_imports(tree:ast.Module)->list:
    "(module, names) for every import of a gradaug module anywhere in `tree` (relative or absolute, at any depth)."
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module: found.append((node.module, [a.name for a in node.names]))
            elif node.level == 1: found += [(a.name, []) for a in node.names]
            elif (node.module or '').startswith('gradaug.'): found.append((node.module[8:], [a.name for a in node.names]))
            elif node.module == 'gradaug': found += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name[8:], []) for a in node.names if a.name.startswith('gradaug.')]
    return found

def import_graph(modules=MODULES)->dict:
    "Module name -> the gradaug modules it imports."
    return {p.stem: {m.split('.')[0] for m, _ in _gradaug_imports(ast.parse(p.read_text()))} for p in modules}

def _cycle(graph:dict):
    "One cycle of `graph` as a list of modules, or None."
    state, path = {}, []
    def visit(m):
        state[m] = 'open'; path.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 'open': return path[path.index(n):] + [n]
            if n not in state and (found := visit(n)): return found
        state[m] = 'done'; path.pop()
    for m in sorted(graph):
        if m not in state and (found := visit(m)): return found

def test_the_import_graph_has_no_cycles():
    cycle = _cycle(import_graph())
    assert cycle is None, f"gradaug modules import each other in a circle: {' -> '.join(cycle)}"

def test_the_cycle_check_finds_a_cycle():
    test_graph = {'cli': {'train', 'errors'}, 'train': {'cli'}, 'errors': set()}
    assert _cycle(test_graph) == ['cli', 'train', 'cli']
    assert _cycle({'cli': {'train'}, 'train': {'errors'}, 'errors': set()}) is None

def _private_imports(tree:ast.Module)->list:
    return [f"{m}.{n}" for m, names in _gradaug_imports(tree) for n in names if n.startswith('_')]

@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_no_private_name_is_imported_from_another_module(path):
    private = _private_imports(ast.parse(path.read_text()))
    assert not private, f"{path.name} imports private names of other gradaug modules: {private}"

def test_the_private_import_check_bites():
    assert _private_imports(ast.parse("from .config import _validate, settings\nfrom gradaug.cli import _x")) == \
           ['config._validate', 'cli._x']

def test_errors_is_stdlib_only():
    tree = ast.parse((ROOT/'gradaug'/'errors.py').read_text())
    imported = {a.name.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split('.')[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported <= set(sys.stdlib_module_names) | {'__future__'}, imported
