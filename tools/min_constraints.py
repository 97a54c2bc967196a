"""Write pip constraints that pin each requirement in settings.ini to its lower bound (for `make test-min`).

    python tools/min_constraints.py [OUT]      # default OUT: constraints-min.txt

Every runtime requirement (`requirements`) must carry a lower bound (`>=X`, `==X` or `~=X`) and is pinned to `==X`;
one without a bound is an error, so a dependency cannot come in untested. Dev requirements (`dev_requirements`) are
pinned when they carry a lower bound; the rest are left to pip, which picks versions that fit the pins.
Stdlib only: it runs before any environment exists."""
import re, sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQ = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?(.*)$')

def lower_bound(spec:str):
    "The lowest version `spec` (e.g. '>=2.1,<=2.14.1') allows, or None if it has no lower bound."
    for s in filter(None, (s.strip() for s in spec.split(','))):
        m = re.match(r'^(>=|==|~=)\s*([0-9][^\s,;]*)$', s)
        if m and '*' not in m.group(2): return m.group(2)
    return None

def pins(reqs:str, required:bool):
    out, missing = [], []
    for r in reqs.split():
        name, _, spec = REQ.match(r).groups()
        low = lower_bound(spec)
        if low: out.append(f'{name}=={low}')
        elif required: missing.append(r)
    return out, missing

def main(out='constraints-min.txt'):
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini', encoding='utf-8')
    cfg = cfg['DEFAULT']
    run, missing = pins(cfg.get('requirements', ''), required=True)
    if missing: sys.exit(f"settings.ini: runtime requirements without a lower bound: {' '.join(missing)}. "
                         "Give each one (e.g. numpy>=1.24) so that `make test-min` can test it.")
    dev, _ = pins(cfg.get('dev_requirements', ''), required=False)
    header = '# made by tools/min_constraints.py from settings.ini: the lowest version each requirement allows\n'
    Path(out).write_text(header + '\n'.join(run + dev) + '\n')
    here = '.'.join(map(str, sys.version_info[:2]))
    print(f"{out}: python {here} (min_python {cfg['min_python']}); " + ' '.join(run + dev))
    if here != cfg['min_python']:
        print(f"warning: these pins are tested on python {here}, not on min_python = {cfg['min_python']} "
              f"(set MIN_PYTHON to a python{cfg['min_python']})", file=sys.stderr)

if __name__ == '__main__': main(*sys.argv[1:])
