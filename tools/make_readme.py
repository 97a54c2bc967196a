"""Write README.md from nbs/index.ipynb where Quarto (and so `nbdev_readme`) is not installed.

Drops hidden cells and `#|` directives, executes the notebook with nbconvert, and writes its markdown. Links to the
site's pages become absolute (https://gradaug.github.io/gradaug/...), so they work on GitHub and PyPI too."""
import re, subprocess, sys, tempfile
from pathlib import Path
import nbformat

root = Path(__file__).resolve().parents[1]
nb = nbformat.read(root/'nbs'/'index.ipynb', as_version=4)
cells = []
for c in nb.cells:
    lines = c.source.splitlines()
    if c.cell_type == 'code' and any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
    c.source = '\n'.join(l for l in lines if not l.startswith('#|'))
    cells.append(c)
nb.cells = cells
with tempfile.TemporaryDirectory() as d:
    nbformat.write(nb, f'{d}/index.ipynb')
    subprocess.run([str(Path(sys.executable).parent/'jupyter'), 'nbconvert', '--to', 'markdown', '--execute',
                    '--log-level', 'ERROR', f'{d}/index.ipynb'], check=True, cwd=root/'nbs')
    md = Path(f'{d}/index.md').read_text()
from docs import site_url      # tools/docs.py: the site's address, from settings.ini
md = re.sub(r'\]\((?![a-z]+:|#)([^)\s]+\.html(?:#[^)\s]*)?)\)', lambda m: f']({site_url()}{m.group(1)})', md)
note = ('<!-- made from nbs/index.ipynb by tools/make_readme.py (nbdev_readme where Quarto exists): '
        'edit the notebook, not this file -->')
(root/'README.md').write_text(md.replace('# gradaug\n', f'# gradaug\n\n{note}\n', 1).strip() + '\n')
print('wrote README.md')
