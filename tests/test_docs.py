"""The docs: processed as nbdev does for the site, checked (links, show_doc coverage, errors, signatures, sidebar,
stored outputs the prose quotes, private calls on show, the index's links), and previewed in a real browser.
`tools/docs.py` does the work; these tests run it and show that its checks bite."""
import functools, http.server, importlib.metadata, importlib.util, json, os, posixpath, re, shutil, subprocess, sys
import threading
from pathlib import Path

import pytest
from tools.notebook_items import ProcessState

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in (shutil.which('chromium'), shutil.which('chromium-browser'), shutil.which('google-chrome'))
                 if p), None)


def _load_docs_tool():
    spec = importlib.util.spec_from_file_location('docs_tool', ROOT/'tools'/'docs.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docs = _load_docs_tool()


def _tree_state()->tuple:
    "What a docs build could change: git's view, every entry at the top level and in nbs/ (ignored ones too)."
    status = subprocess.run(['git', 'status', '--porcelain', '--ignored'], cwd=ROOT, capture_output=True, text=True)
    listing = sorted(os.listdir(ROOT)) + sorted(os.listdir(ROOT/'nbs'))
    mtimes = {p: (ROOT/p).stat().st_mtime_ns for p in ('nbs/sidebar.yml', 'nbs/nbdev.yml', 'gradaug/_modidx.py')}
    return status.stdout, listing, mtimes


def _installed()->list:
    "Every installed distribution and its version (what `pip freeze` lists), read in this process."
    return sorted((d.metadata['Name'], d.version) for d in importlib.metadata.distributions())


def test_docs_check_passes_installs_nothing_and_leaves_the_tree_unchanged(capsys):
    """`tools/docs.py check`, run in this process as its `main` (what the command does, without a new interpreter that
    imports torch, nbdev and every page's modules again), with the process put back afterwards as after a notebook."""
    before, packages = _tree_state(), _installed()
    state = ProcessState()                  # nbdev runs the pages' code in a shell of this process, as the notebooks do
    try:
        os.chdir(ROOT)
        code = docs.main(['check'])
    finally: state.restore()
    out = capsys.readouterr().out
    assert code == 0, out
    assert 'no problems' in out
    assert _tree_state() == before
    assert _installed() == packages


# --- the checks can fail ---------------------------------------------------------------------------------------------

def _page(html, markdown, outputs=(), module=''):
    cells = [{'cell_type': 'raw', 'source': ''}, {'cell_type': 'markdown', 'source': markdown}]
    cells += [{'cell_type': 'code', 'source': '', 'outputs': list(outputs)}]
    return docs.Page(Path(html.replace('.html', '.ipynb')), Path('x'), html, 'T', module, {'cells': cells})


def test_broken_links_are_found():
    site = docs.site_url()
    pages = [_page('slim.html', '## Width rule\n\n### slim\n'), _page('tutorials/t.html', 'text')]
    texts = {'a.ipynb': ('tutorials/t.html', [
        '[ok](../slim.html) [ok](../slim.html#width-rule) [ok]({s}slim.html#slim) [ok](https://pytorch.org/x.html)'
        .format(s=site),
        '[bad](00_slim.html) [bad]({s}slim.html#nowhere) [bad]({s}train.html)'.format(s=site),
        '[src](https://github.com/gradaug/gradaug/blob/main/gradaug/nothing.py#L3)',
        '`[not a link](in code)`'])}
    problems = docs.check_links(texts, pages)
    assert len(problems) == 4, problems
    assert any('no page tutorials/00_slim.html' in p for p in problems)
    assert any('no anchor #nowhere' in p for p in problems)
    assert any('no page train.html' in p for p in problems)
    assert any('gradaug/nothing.py#L3: no such file' in p for p in problems)


def test_anchors_follow_pandoc():
    assert docs.slug('GradAug.step') == 'gradaug.step'
    assert docs.slug('The `width` rule, again!') == 'the-width-rule-again'
    assert docs.slug('2. Split it') == 'split-it'
    assert docs.anchors({'cells': [{'cell_type': 'markdown', 'source': '## Hello {#custom}\n### Two words'}]}) == \
        {'custom', 'two-words'}


def test_missing_show_doc_and_error_outputs_are_found():
    rendered = {'data': {'text/markdown': '### check_ddp\n'}, 'output_type': 'execute_result'}
    page = _page('allreduce.html', 'no mention of the functions', [rendered], module='allreduce')
    problems = docs.check_show_docs([page])
    allreduce = importlib.import_module('gradaug.allreduce')
    undocumented = [name for name in allreduce.__all__ if name != 'check_ddp']   # all of them callables
    assert len(undocumented) >= 2, allreduce.__all__
    assert problems == [f'allreduce.ipynb: {name} is exported but has no show_doc entry' for name in undocumented], \
        problems
    error = {'output_type': 'error', 'ename': 'ValueError', 'evalue': 'x', 'traceback': []}
    assert docs.check_errors([_page('a.html', '', [error])]) == ['a.ipynb: an error output: ValueError']
    assert docs.check_errors([page]) == []


def test_bad_signatures_are_found():
    from typing import NamedTuple
    class Record(NamedTuple):
        x: int
    Record.__module__ = 'gradaug.fake'
    assert docs.signature_problems('Record', 'def Record(\n    *args, **kwargs\n):', Record)
    def f(a=None, **kwargs): pass
    f.__module__ = 'gradaug.fake'
    rendered = 'def f(\n    a:NoneType=None, # a\n    **kwargs\n)->int: # more'
    assert 'NoneType' in docs.signature_problems('f', rendered, f)[0]
    assert 'return' in docs.signature_problems('f', 'def f(\n    **kwargs\n)->int: # more', f)[0]
    def g(a:int=1): pass
    g.__module__ = 'gradaug.fake'
    assert docs.signature_problems('g', 'def g(\n    a:int=1\n):', g) == []


def _nb(*cells):
    "A notebook of `('md', text)` and `('code', source, outputs)` cells."
    made = []
    for kind, source, *outputs in cells:
        made.append({'cell_type': 'markdown', 'source': source} if kind == 'md' else
                    {'cell_type': 'code', 'source': source, 'outputs': outputs[0] if outputs else []})
    return {'cells': made}


SHOWN = [{'output_type': 'stream', 'name': 'stdout', 'text': '0.52\n'}]


def test_cells_that_show_something():
    shows = ['print(x)', 'res', 'table[0]', 'Markdown(mean_table())', 'cam_grid(x, columns)', 'x = 1\nenv',
             'fig, ax = plt.subplots()\nax.plot([1, 2]);', '#| echo: false\ndisplay(x)', 'for r in rows: print(r)']
    silent = ['x = 1', 'test_eq(a, b)', 'assert a', 'x = f()\ntest_close(a, b)', 'dist.destroy_process_group()',
              'hook.remove()', 'f(x);', 'def f(): return 1', '%time x = 1', '']
    assert [s for s in shows if not docs.shows_something(s)] == []
    assert [s for s in silent if docs.shows_something(s)] == []


def test_prose_that_quotes_an_output_needs_it_stored():
    missing = lambda *cells: docs.missing_outputs(_nb(*cells))
    for before in ('The figure below shows the maps.', 'The run prints both at the start:', 'Its rows:',
                   'We measured a relative error of 0.078 (cosine 0.997).', 'Top-1 is 96.2% here.'):
        found = missing(('md', before), ('code', 'print(rows)'), ('md', 'Next.'))
        assert len(found) == 1 and 'the cell "print(rows)" shows something but stores no output' in found[0], found
        assert missing(('md', before), ('code', 'print(rows)', SHOWN), ('md', 'Next.')) == []     # stored: fine
    found = missing(('md', 'Some text.'), ('code', 'x = 1'), ('code', 'Markdown(table)'), ('md', 'So 18.3 ± 8.3%.'))
    assert len(found) == 1 and 'Markdown(table)' in found[0] and 'the prose after quotes' in found[0], found
    assert missing(('md', 'Buckets split by size:'), ('code', 'test_eq(len(b), 2)\ngroup.destroy()')) == []
    assert missing(('md', 'With $\\alpha = 0.8$ and `n=3`.'), ('code', 'res'), ('md', 'Plain text.')) == []
    assert missing(('md', 'Nothing quoted.'), ('code', 'res'), ('md', 'Nothing quoted either.')) == []
    assert missing(('md', 'The table below:'), ('code', '#| output: false\nres')) == []       # hidden on purpose


def test_visible_cells_calling_private_names_are_found():
    found = docs.private_calls(_nb(('code', 'test_eq(_device_type("cuda"), "cuda")'), ('code', 'trainer._step(x, y)'),
                                   ('code', 'super().__init__()\nx._hooks\n_ = f(1)'), ('md', '`_x(1)` in prose'),
                                   ('code', '%time _slow(1)'), ('code', '#| echo: false\nshow_doc(_x(1))')))
    assert found == ['the visible cell "test_eq(_device_type("cuda"), "cuda")" calls _device_type: hide it (#| hide) '
                     'or call public names',
                     'the visible cell "trainer._step(x, y)" calls _step: hide it (#| hide) or call public '
                     'names'], found


def test_exemptions_are_explicit_and_do_not_go_stale():
    page = _page('train.html', 'The run prints:', [])
    page.nb['cells'][-1]['source'] = 'print(_summary(res))'
    problems = docs.check_page_contents([page], exempt={})
    assert len(problems) == 2 and all(p.startswith('train.ipynb: ') for p in problems), problems
    both = {('train.ipynb', 'outputs'): 'a', ('train.ipynb', 'private'): 'b'}
    assert docs.check_page_contents([page], exempt=both) == []
    stale = docs.check_page_contents([page], exempt={**both, ('core.ipynb', 'private'): 'fixed since'})
    assert stale == ["tools/docs.py: EXEMPT('core.ipynb', 'private') is no longer needed (core.ipynb passes the "
                     "check): delete the entry"], stale
    notebooks = {p.relative_to(ROOT/'nbs').as_posix() for p in (ROOT/'nbs').rglob('*.ipynb')}
    for (notebook, kind), reason in docs.EXEMPT.items():
        assert notebook in notebooks and kind in ('outputs', 'private') and reason, (notebook, kind)


def test_the_index_must_link_every_page():
    pages = [_page('index.html', '[Slim](slim.html) and [launch](tutorials/launch.html#one-machine)'),
             _page('slim.html', ''), _page('tutorials/launch.html', ''), _page('cam.html', '')]
    assert docs.check_index_links(pages) == ['index.ipynb: no link to cam.html (cam.ipynb): add it to "Where to read '
                                             'next"']


def test_every_notebook_is_linked_from_the_index_and_the_readme():
    index = json.loads((ROOT/'nbs'/'index.ipynb').read_text())
    markdown = '\n'.join(''.join(c['source']) for c in index['cells'] if c['cell_type'] == 'markdown')
    linked = {posixpath.normpath(docs.resolve(t, 'index.html')[1]) for t in docs.links(markdown)}
    readme = (ROOT/'README.md').read_text()
    for notebook in (ROOT/'nbs').rglob('*.ipynb'):
        rel = notebook.relative_to(ROOT/'nbs')
        if rel.name == 'index.ipynb' or any(part.startswith(('.', '_')) for part in rel.parts): continue
        html = (rel.parent/re.sub(r'^\d+[a-zA-Z0-9]*_', '', rel.stem.lower())).as_posix() + '.html'   # nbdev's rule
        assert html in linked, f'index.ipynb does not link {html} ({rel}): add it to "Where to read next"'
        assert f'{docs.site_url()}{html}' in readme, f'README.md lacks {html}: run tools/make_readme.py'


def test_readme_and_index_name_every_command_torchrun_and_semi():
    index = (ROOT/'nbs'/'index.ipynb').read_text()
    readme = (ROOT/'README.md').read_text()
    commands = re.findall(r'gradaug-\w+', (ROOT/'settings.ini').read_text().split('console_scripts')[1].splitlines()[0])
    assert sorted(commands) == ['gradaug-cam', 'gradaug-detect', 'gradaug-eval', 'gradaug-robustness', 'gradaug-train']
    for text, name in ((index, 'index.ipynb'), (readme, 'README.md')):
        for needed in commands + ['torchrun', 'GradAug-semi']:
            assert needed in text, f'{name} does not name {needed}'


def test_sidebar_lists_every_page_once_in_course_order():
    sidebar = yaml_load(ROOT/'nbs'/'sidebar.yml')
    listed = docs.sidebar_files(sidebar)
    notebooks = sorted(p.relative_to(ROOT/'nbs').as_posix() for p in (ROOT/'nbs').rglob('*.ipynb')
                       if not any(part.startswith(('.', '_')) for part in p.relative_to(ROOT/'nbs').parts))
    assert sorted(listed) == notebooks
    numbered = [n for n in listed if n[:2].isdigit()]
    assert numbered == sorted(numbered)                 # the course order is the numbering
    assert listed[0] == 'index.ipynb' and listed[-1].startswith('tutorials/')


def yaml_load(path):
    import yaml
    return yaml.safe_load(Path(path).read_text())


# --- the preview, in a real browser ----------------------------------------------------------------------------------

HARNESS = """<!DOCTYPE html><html><body><iframe id="f" src="{page}" width="1280" height="2000"></iframe><script>
document.getElementById('f').onload = function () {{
  const d = this.contentDocument;
  const visible = el => {{ const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; }};
  const out = {{title: d.title,
               h1: (d.querySelector('h1') || {{}}).textContent,
               nav: [...d.querySelectorAll('nav.sidebar a')].map(a => a.getAttribute('href')),
               math: [...d.querySelectorAll('math')].filter(visible).length,
               code: [...d.querySelectorAll('pre code')].filter(visible).length,
               note: (d.querySelector('nav.sidebar .note') || {{}}).textContent}};
  const p = document.createElement('pre'); p.id = 'result'; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
}};
</script></body></html>"""


def _rendered(folder:Path, page:str, port:int)->dict:
    "Open `page` of the preview in headless Chromium and read what it laid out."
    (folder/f'harness-{page.replace("/", "-")}').write_text(HARNESS.format(page=page))
    profile = folder.parent/f'chromium-profile-{page.replace("/", "-")}'
    r = subprocess.run([CHROMIUM, '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                        '--disable-background-networking', '--disable-component-update', '--disable-sync',
                        f'--user-data-dir={profile}', '--virtual-time-budget=10000', '--dump-dom',
                        f'http://127.0.0.1:{port}/harness-{page.replace("/", "-")}'],
                       capture_output=True, text=True, timeout=120)
    start = r.stdout.find('<pre id="result">')
    assert start >= 0, f'the page did not load in Chromium: {r.stdout[-500:]} {r.stderr[-1500:]}'
    text = r.stdout[start + len('<pre id="result">'):r.stdout.index('</pre>', start)]
    return json.loads(text.replace('&lt;', '<').replace('&gt;', '>').replace('&quot;', '"').replace('&amp;', '&'))


@pytest.mark.skipif(CHROMIUM is None, reason='Chromium is not installed (Debian: apt-get install chromium); '
                                             'the preview is not opened in a browser here')
def test_preview_renders_in_chromium(tmp_path):
    out = tmp_path/'preview'
    r = subprocess.run([sys.executable, 'tools/docs.py', 'preview', '--out', str(out)], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        front = _rendered(out, 'index.html', server.server_port)
        api = _rendered(out, 'core.html', server.server_port)
    finally:
        server.shutdown()
    assert front['h1'] == 'gradaug'
    assert api['title'] == 'The GradAug step' and api['h1'] == 'The GradAug step'
    sidebar = docs.sidebar_files(yaml_load(ROOT/'nbs'/'sidebar.yml'))
    assert len(front['nav']) == len(sidebar) and 'core.html' in front['nav'] and 'slim.html' in api['nav']
    for href in front['nav']: assert (out/href).exists(), href
    assert front['math'] > 0 and api['math'] > 0       # MathML equations laid out by the browser
    assert front['code'] > 0 and api['code'] > 0
    assert 'Quarto' in front['note']
