"""Give the code cells of the notebooks under a folder execution counts again, in place.

`nbdev_clean` blanks every execution count but keeps outputs; nbval reads a cell with outputs and no count as
"unrun reference cell has outputs". `make test` runs nbval on a numbered copy of nbs/ (never on nbs/ itself, which
stays clean)."""
import sys
from pathlib import Path
import nbformat

for path in Path(sys.argv[1]).rglob('*.ipynb'):
    nb = nbformat.read(path, as_version=4)
    n = 0
    for c in nb.cells:
        if c.cell_type != 'code': continue
        n += 1; c.execution_count = n
        for o in c.get('outputs', []):
            if 'execution_count' in o: o['execution_count'] = n
    nbformat.write(nb, path)
