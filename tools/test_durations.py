"""Write tools/test_durations.json, the seconds each test file (and notebook) took, from the junit XML of a `make test`
run: `make test-durations` runs the suite with `--junitxml` and calls this. conftest.py hands the slowest files out
first, so that the two pytest-xdist workers finish at about the same time."""
import json, sys, xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

OUT = Path(__file__).with_name('test_durations.json')

def test_file(classname:str)->str:
    """The file a junit classname names: 'tests.test_cli' -> 'tests/test_cli.py', '_nbtest.tutorials.launch.ipynb' ->
    'nbs/tutorials/launch.ipynb' (a notebook by its name in nbs/, which `make test` copies to _nbtest/)."""
    if classname.endswith('.ipynb'):
        return 'nbs/' + classname.removeprefix('_nbtest.').removesuffix('.ipynb').replace('.', '/') + '.ipynb'
    return classname.replace('.', '/') + '.py'

def file_seconds(junit:Path)->dict:
    "Seconds per test file, summed over its tests (setup and teardown included), slowest first."
    seconds = Counter()
    for case in ET.parse(junit).iter('testcase'):
        seconds[test_file(case.get('classname', ''))] += float(case.get('time', 0))
    return {name: round(s, 1) for name, s in seconds.most_common()}

if __name__ == '__main__':
    table = file_seconds(Path(sys.argv[1]))
    OUT.write_text(json.dumps(table, indent=0) + '\n')
    print(f'{OUT}: {len(table)} files, {sum(table.values()):.0f} s in all')
