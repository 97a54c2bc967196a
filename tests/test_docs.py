"""The docs: processed as nbdev does for the site, checked (links, show_doc coverage, errors, signatures, sidebar),
and previewed in a real browser. `tools/docs.py` does the work; these tests run it and show that its checks bite."""
import functools, http.server, importlib.util, json, os, shutil, subprocess, sys, threading
from pathlib import Path

import pytest

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


def _installed()->str:
    return subprocess.run([sys.executable, '-m', 'pip', 'freeze'], capture_output=True, text=True).stdout


def test_docs_check_passes_installs_nothing_and_leaves_the_tree_unchanged():
    before, packages = _tree_state(), _installed()
    env = {**os.environ, 'PYTHONDONTWRITEBYTECODE': '1'}     # bytecode caches are Python's, not the check's
    r = subprocess.run([sys.executable, 'tools/docs.py', 'check'], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'no problems' in r.stdout
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
