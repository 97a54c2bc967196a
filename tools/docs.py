"""The docs without Quarto: process the notebooks as nbdev does for the site, check the result, build a local preview.

    python tools/docs.py check               # exit 1 and list the problems, if any
    python tools/docs.py preview [--out DIR] # browsable HTML of the processed pages, in the sidebar's order (pandoc)

`nbdev_proc_nbs` is not used: without Quarto it tries to install it with sudo, and it rewrites sidebar.yml, nbdev.yml
and _modidx.py. This runs the same per-notebook processing (nbdev's `FilterDefaults`: frontmatter, `show_doc` for
every export, hidden cells removed) into a temporary folder, and writes nothing in the tree but `--out`.

`check` finds broken links and anchors, exports without a `show_doc` entry, error outputs, badly rendered signatures,
a sidebar that misses a page, cells whose output the prose quotes but which store none, visible cells that call a
private name, and pages the index does not link (`EXEMPT` lists the pages excused for now, each with its reason)."""
import argparse, ast, base64, importlib, inspect, json, posixpath, re, shutil, sys, tempfile, warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag

import yaml
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.quarto import _nbdev_yml
from nbdev.serve import _proc_file
import nbdev.serve_drv

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Page:
    "One processed notebook and the page Quarto makes of it."
    source: Path               # the notebook, relative to nbs/
    processed: Path            # nbdev's processed copy
    html: str                  # the page's path in the site, e.g. 'slim.html', 'tutorials/low_label_digits.html'
    title: str = ''
    module: str = ''           # `default_exp`, for API pages
    nb: dict = field(default_factory=dict, repr=False)


# --- processing ------------------------------------------------------------------------------------------------------

def frontmatter(nb:dict)->dict:
    "The YAML frontmatter nbdev puts in the first raw cell of a processed notebook."
    first = nb['cells'][0] if nb['cells'] else {}
    text = ''.join(first.get('source', ''))
    if first.get('cell_type') != 'raw' or not text.startswith('---'): return {}
    return yaml.safe_load(text.strip().strip('-')) or {}


def default_exp(source:Path)->str:
    "The module a source notebook exports to ('' for none)."
    for cell in json.loads(source.read_text())['cells']:
        m = re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(cell['source']), re.M)
        if cell['cell_type'] == 'code' and m: return m.group(1)
    return ''


def process(dest:Path)->tuple:
    "Process every notebook into `dest` as nbdev does for the site; returns `(pages, problems)`."
    cfg = get_config()
    nbs = cfg.nbs_path
    pages, problems = [], []
    for src in nbglob(nbs, func=Path, file_glob='', file_re=''):
        job = _proc_file(src, cache=dest, path=nbs)
        if not job or src.suffix != '.ipynb': continue
        rel = src.relative_to(nbs)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try: nbdev.serve_drv.main(job)
            except Exception as e: problems.append(f'{rel}: nbdev cannot process it: {str(e).splitlines()[0]}')
        for w in caught:
            if 'imports and other code' in str(w.message):
                cell = str(w.message).split('---')[1].strip().splitlines()[0]
                problems.append(f'{rel}: a cell mixes imports with other code, so the docs build runs it: "{cell}"')
        if not job[1].exists(): continue
        nb = json.loads(job[1].read_text())
        fm = frontmatter(nb)
        html = (rel.parent/fm.get('output-file', rel.with_suffix('.html').name)).as_posix()
        pages.append(Page(rel, job[1], html, fm.get('title', ''), default_exp(src), nb))
    return pages, problems


# --- what a page holds -----------------------------------------------------------------------------------------------

def cell_markdown(nb:dict)->list:
    "The markdown a page shows: markdown cells and markdown outputs (`show_doc`)."
    texts = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    for c in nb['cells']:
        for out in c.get('outputs', []):
            md = out.get('data', {}).get('text/markdown')
            if md: texts.append(''.join(md))
    return texts


def slug(heading:str)->str:
    "Pandoc's identifier for a heading (what Quarto uses for anchors)."
    text = re.sub(r'`|\*|\[([^\]]*)\]\([^)]*\)', r'\1', heading).strip().lower()
    text = re.sub(r'[^\w\s.-]', '', text)
    text = re.sub(r'\s+', '-', text)
    return re.sub(r'^[^a-z]+', '', text) or 'section'


def anchors(nb:dict)->set:
    "Every anchor on a page: heading identifiers and explicit `{#id}`s."
    found = set()
    for text in cell_markdown(nb):
        for heading in re.findall(r'^#{1,6}\s+(.+?)\s*$', text, re.M):
            explicit = re.search(r'\{#([^} ]+)', heading)
            found.add(explicit.group(1) if explicit else slug(heading))
        found.update(re.findall(r'\{#([\w.-]+)', text))
    return found


_MD_LINK = re.compile(r'\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
_HREF = re.compile(r'href="([^"]+)"')


def links(text:str)->list:
    "Link targets in markdown (and inline HTML), skipping fenced code."
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    text = re.sub(r'`[^`\n]*`', '', text)
    return _MD_LINK.findall(text) + _HREF.findall(text)


def site_url()->str:
    cfg = get_config()
    return cfg.doc_host.rstrip('/') + '/' + cfg.doc_baseurl.strip('/') + '/'


def resolve(target:str, from_html:str)->tuple:
    "`(kind, path, anchor)`: kind 'page' for a page of this site, 'source' for this repo's files, else 'external'."
    url, anchor = urldefrag(target)
    base, repo = site_url(), get_config().git_url.rstrip('/') + '/blob/'
    if url.startswith(base): return 'page', url[len(base):] or 'index.html', anchor
    if url.startswith(repo): return 'source', url[len(repo):].split('/', 1)[1], anchor
    if re.match(r'^[a-z]+:', url): return 'external', url, anchor
    if not url: return 'page', from_html, anchor
    return 'page', (Path(from_html).parent/url).as_posix(), anchor



# --- checks ----------------------------------------------------------------------------------------------------------

def check_links(texts_by_page:dict, pages:list)->list:
    "Every link to this site names a page nbdev writes (and an anchor on it); every source link names a file."
    by_html = {p.html: p for p in pages}
    page_anchors = {p.html: anchors(p.nb) for p in pages}
    problems = []
    for where, (from_html, texts) in texts_by_page.items():
        for text in texts:
            for target in links(text):
                kind, path, anchor = resolve(target, from_html)
                if kind == 'external': continue
                if kind == 'source':
                    if not (ROOT/path.split('#')[0]).exists(): problems.append(f'{where}: {target}: no such file')
                    continue
                path = posixpath.normpath(path)
                if path.endswith('.ipynb'): path = path[:-len('.ipynb')] + '.html'
                if path not in by_html:
                    problems.append(f'{where}: {target}: no page {path} (pages: {", ".join(sorted(by_html))})')
                elif anchor and anchor not in page_anchors[path]:
                    problems.append(f'{where}: {target}: {path} has no anchor #{anchor}')
    return problems


def check_show_docs(pages:list)->list:
    "Every exported function and class has a `show_doc` entry on its page; every exported constant is in its prose."
    problems = []
    for page in pages:
        if not page.module: continue
        module = importlib.import_module(f'{get_config().lib_name}.{page.module}')
        markdown = cell_markdown(page.nb)
        documented = set(re.findall(r'^###\s+(\S+)', '\n'.join(markdown), re.M))
        prose = '\n'.join(''.join(c['source']) for c in page.nb['cells'] if c['cell_type'] == 'markdown')
        for name in getattr(module, '__all__', []):
            if callable(getattr(module, name)):
                if name not in documented:
                    problems.append(f'{page.source}: {name} is exported but has no show_doc entry')
            elif f'`{name}`' not in prose:     # show_doc renders a constant as its type's docstring: say it in prose
                problems.append(f'{page.source}: the exported constant {name} is not named (in backticks) in the prose')
    return problems


def check_errors(pages:list)->list:
    "No page shows an error output or a traceback."
    problems = []
    for page in pages:
        for cell in page.nb['cells']:
            for out in cell.get('outputs', []):
                text = ''.join(out.get('text', '')) + ''.join(out.get('data', {}).get('text/plain', ''))
                if out['output_type'] == 'error' or 'Traceback (most recent call last)' in text:
                    problems.append(f'{page.source}: an error output: {out.get("ename", text[:80])}')
    return problems


def _owned_by_us(symbol)->bool:
    "Whether this library wrote the signature show_doc renders (not an inherited one, as torch's or Exception's)."
    ours = get_config().lib_name
    if not inspect.isclass(symbol): return getattr(symbol, '__module__', '').startswith(ours)
    init = symbol.__init__
    return symbol.__module__.startswith(ours) and (init is object.__init__ or
                                                   getattr(init, '__module__', '').startswith(ours))


def signature_problems(name:str, rendered:str, symbol)->list:
    "What renders badly in one `show_doc` signature (only signatures defined in this library are judged)."
    if not _owned_by_us(symbol): return []
    problems = []
    if 'NoneType' in rendered: problems.append('a parameter without a type annotation renders as NoneType')
    if re.search(r'\]\([^)]*\.html', rendered):
        problems.append('a comment links a name in backticks, which shows as raw markdown in the code block')
    if inspect.isclass(symbol) and issubclass(symbol, tuple) and hasattr(symbol, '_fields'):
        problems.append('a NamedTuple renders as (*args, **kwargs), without its fields: make it a dataclass')
    source = inspect.getsource(symbol) if inspect.isfunction(symbol) else ''
    if re.search(r'\*\*kwargs\n\)->[^\n]*#', rendered) and not re.search(r'\)\s*->[^:\n]*:\s*#', source):
        problems.append("the **kwargs comment is shown as the return's: document the return too")
    return [f'{name}: {p}' for p in problems]


def check_signatures(pages:list)->list:
    problems = []
    for page in pages:
        if not page.module: continue
        module = importlib.import_module(f'{get_config().lib_name}.{page.module}')
        for text in cell_markdown(page.nb):
            heading = re.search(r'^###\s+(\S+)', text, re.M)
            signature = re.search(r'```python\n(.*?)```', text, re.S)
            if not (heading and signature): continue
            symbol = module
            for part in heading.group(1).split('.'): symbol = getattr(symbol, part, None)
            if symbol is None: continue
            found = signature_problems(heading.group(1), signature.group(1), symbol)
            problems += [f'{page.source}: {p}' for p in found]
    return problems


def _listed(items:list)->list:
    "The notebooks in a list of sidebar entries (names, `href`s, sections with `contents`), in order."
    found = []
    for item in items:
        if isinstance(item, str): found.append(item)
        elif isinstance(item, dict):
            if 'href' in item: found.append(item['href'])
            found += _listed(item.get('contents', []))
    return found


def sidebar_files(sidebar:dict)->list:
    "The notebooks a sidebar.yml lists, in order."
    return _listed(sidebar['website']['sidebar']['contents'])


def check_site_config(pages:list)->list:
    "sidebar.yml lists every page once and nothing else; nbdev.yml is what nbdev would write from settings.ini."
    cfg = get_config()
    nbs = cfg.nbs_path
    problems = []
    if not cfg.custom_sidebar:
        problems.append('settings.ini: custom_sidebar must be True, or nbdev rewrites sidebar.yml')
    listed = sidebar_files(yaml.safe_load((nbs/'sidebar.yml').read_text()))
    sources = {p.source.as_posix() for p in pages}
    for item in listed:
        if item not in sources: problems.append(f'sidebar.yml: {item} is not a notebook nbdev makes a page of')
    for missing in sorted(sources - set(listed)): problems.append(f'sidebar.yml: {missing} is missing')
    for twice in sorted({i for i in listed if listed.count(i) > 1}):
        problems.append(f'sidebar.yml: {twice} is listed twice')
    quarto = yaml.safe_load((nbs/'_quarto.yml').read_text())
    navbar = quarto['website']['navbar']
    hrefs = [item.get('href', '') for side in ('left', 'right') for item in navbar.get(side, [])]
    pages_html = {p.html for p in pages}
    for href in hrefs:
        if not (href in sources or href in pages_html or re.match(r'^[a-z]+://', href)):
            problems.append(f'_quarto.yml: the navbar links to {href}, which is not a page')
    if cfg.git_url not in hrefs: problems.append(f'_quarto.yml: the navbar has no link to the repository {cfg.git_url}')
    if set(quarto.get('metadata-files', [])) != {'nbdev.yml', 'sidebar.yml'}:
        problems.append('_quarto.yml: metadata-files must be [nbdev.yml, sidebar.yml]')
    values = {k: cfg[k] for k in ['title', 'description', 'branch', 'git_url', 'doc_host', 'doc_baseurl']}
    if (nbs/'nbdev.yml').read_text() != _nbdev_yml.format(doc_path=cfg.doc_path.name, **values):
        problems.append('nbdev.yml differs from what nbdev writes from settings.ini: '
                        'run nbdev.quarto.refresh_quarto_yml()')
    return problems



# --- what a page shows: the outputs its prose quotes, no internal tests, the index's links ----------------------------

# Pages that fail a check below and belong to work in progress elsewhere (issue 21): (notebook, check) -> why. Each
# entry is for the page's owner to clear: fix the page, then delete the entry (the check fails on a stale one).
# 'outputs': a cell shows something the prose quotes and stores no output; 'private': a visible cell calls `_x(...)`.
EXEMPT = {}

FORWARD = re.compile(r'\bbelow\b|\b(?:figures?|tables?|plots?|curves?|charts?|prints?)\b|:\s*$', re.I)
MEASURED = re.compile(r'\d\.\d|\d\s?%|±|\b\d{1,3}(?:,\d{3})+\b|\b\d{3,}\b')   # decimals, percentages, large counts
TEST_CALL = re.compile(r'^(?:test_\w*|assert\w*)$')


def _code(source:str)->str:
    "A code cell's Python: its `#|` directives and IPython magics (`%`, `!`) dropped."
    return '\n'.join(l for l in source.splitlines() if not l.lstrip().startswith(('#|', '%', '!')))


def _called(call:ast.Call)->str:
    "The name a call calls: `f` for `f(...)`, `m` for `x.m(...)`, '' otherwise."
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ''


def shows_something(source:str)->bool:
    """Whether a code cell displays something when run: it prints, draws with `plt`, or ends with an expression that
    is a value (`res`, `table[0]`) or a function's result (`Markdown(...)`, `cam_grid(...)`), not a test's. A method
    call at the end (`group.destroy()`) is taken to return None."""
    code = _code(source)
    try: tree = ast.parse(code)
    except SyntaxError: return bool(re.search(r'\b(?:print|display)\(', code))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call): continue
        func = node.func
        if _called(node) in ('print', 'display'): return True
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == 'plt': return True
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr) or code.rstrip().endswith(';'): return False
    if not isinstance(last.value, ast.Call): return True
    return isinstance(last.value.func, ast.Name) and not TEST_CALL.match(last.value.func.id)


def _groups(nb:dict)->list:
    "`[(prose before, code cells, prose after)]`: each run of code cells with the markdown cells around it."
    groups, before, cells = [], '', []
    for cell in nb['cells']:
        if cell['cell_type'] == 'markdown':
            text = ''.join(cell['source'])
            if cells: groups.append((before, cells, text))
            before, cells = text, []
        elif cell['cell_type'] == 'code': cells.append(cell)
    if cells: groups.append((before, cells, ''))
    return groups


def _quoted(text:str)->str:
    "An excerpt of prose around its first measured-looking number (math and code spans left out), or ''."
    blanked = re.sub(r'\$\$.*?\$\$|\$[^$\n]*\$|`[^`\n]*`', lambda m: ' ' * len(m.group(0)), text, flags=re.S)
    found = MEASURED.search(blanked)
    return ' '.join(text[max(0, found.start() - 25):found.end() + 10].split()) if found else ''


def missing_outputs(nb:dict)->list:
    """Code cells that display something but store no output, where the prose refers to what they show: the markdown
    before them says below/figure/table/plot/prints or ends with ':', or quotes a measured number, or the markdown
    after them quotes one."""
    found = []
    for before, cells, after in _groups(nb):
        forward, quoted_before, quoted_after = FORWARD.search(before.strip()), _quoted(before), _quoted(after)
        if forward: why = f'the prose before says "{forward.group(0).strip()}"'
        elif quoted_before: why = f'the prose before quotes "{quoted_before}"'
        elif quoted_after: why = f'the prose after quotes "{quoted_after}"'
        else: continue
        for cell in cells:
            source = ''.join(cell['source'])
            if _directives(source).get('output') == 'false': continue       # its output is hidden on purpose
            if not cell.get('outputs') and shows_something(source):
                first = next((l for l in _code(source).splitlines() if l.strip()), '')
                found.append(f'the cell "{first[:60]}" shows something but stores no output, and {why}')
    return found


def private_calls(nb:dict)->list:
    "Code cells whose code a page shows and that call a private name (`_x(...)`, `obj._x(...)`): internal tests."
    found = []
    for cell in nb['cells']:
        if cell['cell_type'] != 'code' or _directives(''.join(cell['source'])).get('echo') == 'false': continue
        code = _code(''.join(cell['source']))
        try: calls = [_called(n) for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call)]
        except SyntaxError: calls = re.findall(r'(?<![\w])\.?(_\w+)\s*\(', code)
        private = sorted({c for c in calls if c.startswith('_') and not c.startswith('__') and c != '_'})
        first = next((l for l in code.splitlines() if l.strip()), '')
        if private: found.append(f'the visible cell "{first[:60]}" calls {", ".join(private)}: hide it (#| hide) or '
                                 f'call public names')
    return found


def check_page_contents(pages:list, exempt:dict=EXEMPT)->list:
    "Outputs the prose quotes are stored; no visible cell calls a private name; every exemption is still needed."
    problems, used = [], set()
    for page in pages:
        for kind, found in (('outputs', missing_outputs(page.nb)), ('private', private_calls(page.nb))):
            key = (page.source.as_posix(), kind)
            if found and key in exempt: used.add(key)
            elif found: problems += [f'{page.source}: {f}' for f in found]
    for key in sorted(set(exempt) - used):
        problems.append(f'tools/docs.py: EXEMPT{key} is no longer needed ({key[0]} passes the check): delete the entry')
    return problems


def check_index_links(pages:list)->list:
    "The index page (and so the README) links to every other page."
    index = next((p for p in pages if p.html == 'index.html'), None)
    if index is None: return ['index.ipynb: there is no index page']
    linked = set()
    for text in cell_markdown(index.nb):
        for target in links(text):
            kind, path, _ = resolve(target, index.html)
            if kind == 'page': linked.add(posixpath.normpath(path).replace('.ipynb', '.html'))
    return [f'index.ipynb: no link to {p.html} ({p.source}): add it to "Where to read next"'
            for p in pages if p is not index and p.html not in linked]


def check(pages:list)->list:
    "All the checks, over the processed pages, the README and the sidebar."
    texts = {str(p.source): (p.html, cell_markdown(p.nb)) for p in pages}
    texts['README.md'] = ('index.html', [(ROOT/'README.md').read_text()])
    return (check_links(texts, pages) + check_show_docs(pages) + check_errors(pages) + check_signatures(pages)
            + check_site_config(pages) + check_page_contents(pages) + check_index_links(pages))


# --- preview ---------------------------------------------------------------------------------------------------------

def _directives(source:str)->dict:
    return dict(re.findall(r'^#\|\s*([\w-]+)\s*:\s*(.*?)\s*$', source, re.M))


def page_markdown(page:Page, media:Path)->str:
    "The page as pandoc markdown: what Quarto renders, with code, outputs and images."
    parts = []
    for i, cell in enumerate(page.nb['cells'][1:]):
        source = ''.join(cell['source'])
        if cell['cell_type'] == 'markdown': parts.append(source)
        if cell['cell_type'] != 'code': continue
        flags = _directives(source)
        code = re.sub(r'^#\|.*\n?', '', source, flags=re.M).strip()
        if code and flags.get('echo') != 'false': parts.append(f'```python\n{code}\n```')
        for j, out in enumerate(cell.get('outputs', [])):
            data = out.get('data', {})
            if 'text/markdown' in data: parts.append(''.join(data['text/markdown']))
            elif 'image/png' in data:
                name = f'{Path(page.html).stem}-{i}-{j}.png'
                (media/name).write_bytes(base64.b64decode(''.join(data['image/png'])))
                parts.append(f'![]({"../" * page.html.count("/")}media/{name})')
            elif 'text/html' in data: parts.append('```{=html}\n' + ''.join(data['text/html']) + '\n```')
            elif 'text/plain' in data or 'text' in out:
                parts.append('```\n' + ''.join(data.get('text/plain', out.get('text', ''))).rstrip() + '\n```')
    text = '\n\n'.join(parts)
    return text.replace(site_url(), '../' * page.html.count('/'))


def sidebar_sections(sidebar:dict)->list:
    "`[(section title, [notebooks])]` of a sidebar.yml; entries outside any section have the title ''."
    sections = []
    for item in sidebar['website']['sidebar']['contents']:
        title = item.get('section', '') if isinstance(item, dict) else ''
        files = _listed(item.get('contents', []) if title else [item])
        if not title and sections and sections[-1][0] == '': sections[-1][1].extend(files)
        else: sections.append((title, files))
    return sections


def sidebar_html(sections:list, by_source:dict, current:Page)->str:
    "The navigation: the sidebar's sections and pages, in order, with links relative to `current`."
    up = '../' * current.html.count('/')
    html = [f'<nav class="sidebar"><p class="site">{get_config().title}</p>']
    for title, sources in sections:
        if title: html.append(f'<p class="section">{title}</p>')
        html.append('<ul>')
        for source in sources:
            page = by_source[source]
            here = ' class="current"' if page is current else ''
            html.append(f'<li><a href="{up}{page.html}"{here}>{page.title or page.html}</a></li>')
        html.append('</ul>')
    html.append('<p class="note">Local preview (pandoc). The published site is built by Quarto.</p></nav>')
    return ''.join(html)


PREVIEW_CSS = """body{font-family:system-ui,sans-serif;margin:0;display:flex;max-width:none;padding:0}
nav.sidebar{width:15em;flex:none;padding:1em;background:#f4f6f8;min-height:100vh;font-size:90%}
nav.sidebar ul{list-style:none;padding:0} nav.sidebar li{margin:.35em 0} nav.sidebar a.current{font-weight:bold}
nav.sidebar .site{font-size:130%;font-weight:bold} nav.sidebar .section{font-weight:bold;margin:1em 0 0} nav.sidebar .note{color:#666;font-size:85%}
main{padding:1em 2em;max-width:58em;overflow-x:auto} pre{background:#f6f8fa;padding:.6em;overflow-x:auto}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.2em .5em} img{max-width:100%}"""


def preview(pages:list, out:Path)->list:
    "Write one HTML file per page into `out`, in the sidebar's order; returns the files written."
    import pypandoc
    sections = sidebar_sections(yaml.safe_load((get_config().nbs_path/'sidebar.yml').read_text()))
    by_source = {p.source.as_posix(): p for p in pages}
    ordered = [by_source[s] for _, sources in sections for s in sources]
    shutil.rmtree(out, ignore_errors=True)
    (out/'media').mkdir(parents=True)
    written = []
    for page in ordered:
        target = out/page.html
        target.parent.mkdir(parents=True, exist_ok=True)
        nav = sidebar_html(sections, by_source, page)
        header = f'<style>{PREVIEW_CSS}</style>'
        pandoc_args = ['--mathml', f'--metadata=pagetitle:{page.title or page.html}']
        markdown = page_markdown(page, out/'media')
        body = pypandoc.convert_text(markdown, 'html5', format='markdown', extra_args=pandoc_args)
        title = f'<h1 class="title">{page.title}</h1>' if page.title else ''
        target.write_text(f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{page.title}</title>{header}'
                          f'</head><body>{nav}<main>{title}{body}</main></body></html>')
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=['check', 'preview'])
    parser.add_argument('--out', default=str(ROOT/'_preview'), help='where `preview` writes (default: _preview/)')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        pages, problems = process(Path(tmp))
        if args.command == 'check':
            problems += check(pages)
            for p in problems: print(p)
            print(f'{len(pages)} pages checked: ' + (f'{len(problems)} problems' if problems else 'no problems'))
            return 1 if problems else 0
        for p in problems: print('warning:', p)
        written = preview(pages, Path(args.out))
        print(f'wrote {len(written)} pages to {args.out}; open {Path(args.out)/"index.html"} '
              '(a local preview: the published site is built by Quarto)')
        return 0


if __name__ == '__main__': sys.exit(main())
