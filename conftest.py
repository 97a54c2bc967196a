"""How `make test` reports and schedules: one line per finished file (its counts and time, how far the suite has got)
instead of a dot per test, and the files that take longest handed out first, so that the two pytest-xdist workers
finish together. Applies to `pytest tests/` and to the notebooks alike (this is the repository root)."""
import json, time
from collections import Counter, defaultdict
from pathlib import Path
import pytest

pytest_plugins = ['tools.notebook_items']   # notebooks run in the worker process, a test per cell (see that file)

# seconds each file took in a measured `make test` (tools/test_durations.json, rewritten by `make test-durations`)
DURATIONS = Path(__file__).parent/'tools'/'test_durations.json'


def file_of(nodeid:str)->str: return nodeid.split('::', 1)[0]


def source_name(test_file:str)->str:
    "A test file's name in the durations table: notebooks by their place in nbs/ (`make test` runs copies in _nbtest/)."
    return 'nbs/' + test_file.removeprefix('_nbtest/') if test_file.startswith('_nbtest/') else test_file


def pytest_collection_modifyitems(session, config, items):
    """Items grouped by file, the slowest files first: the order pytest-xdist's --dist loadfile hands them out, so that
    the two workers finish together. A file missing from the table (a new one) goes first: it may be slow."""
    seconds = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    first_seen = {}
    for item in items: first_seen.setdefault(file_of(item.nodeid), len(first_seen))
    def key(item):
        test_file = file_of(item.nodeid)
        return (-seconds.get(source_name(test_file), float('inf')), first_seen[test_file])
    items.sort(key=key)


class FileProgress:
    "Counts each file's outcomes; prints a line when its last test has reported."
    def __init__(self, terminal):
        self.terminal, self.start = terminal, time.time()
        self.expected, self.outcomes, self.seconds = Counter(), defaultdict(Counter), Counter()

    def expect(self, nodeids):
        if self.expected: return                      # every xdist worker collects the same items: count them once
        for nodeid in nodeids: self.expected[file_of(nodeid)] += 1
        self.terminal.write_line(f'{len(nodeids)} tests in {len(self.expected)} files (tests/ and the notebooks)')

    @pytest.hookimpl
    def pytest_collection_modifyitems(self, items): self.expect([item.nodeid for item in items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids): self.expect(ids)

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        name = file_of(report.nodeid)
        self.seconds[name] += report.duration
        if report.when == 'call' or report.outcome != 'passed': self.outcomes[name][self.outcome(report)] += 1
        if report.when != 'teardown' or name not in self.expected: return
        done = self.outcomes[name]
        if sum(done.values()) < self.expected[name]: return
        finished = sum(sum(self.outcomes[f].values()) >= n for f, n in self.expected.items())
        counts = ', '.join(f'{n} {what}' for what, n in sorted(done.items()))
        minutes, seconds = divmod(round(time.time() - self.start), 60)
        self.terminal.write_line(f'[{minutes:2d}:{seconds:02d}] {finished:2d}/{len(self.expected)} '
                                 f'{name}: {counts} ({self.seconds[name]:.0f} s)')

    @staticmethod
    def outcome(report)->str:
        if report.when == 'call' and hasattr(report, 'wasxfail'): return 'xpassed' if report.passed else 'xfailed'
        if report.when != 'call' and report.failed: return 'error'
        return report.outcome


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    if hasattr(config, 'workerinput') or config.option.verbose > 0: return   # workers report to the controller
    terminal = config.pluginmanager.get_plugin('terminalreporter')
    if terminal is not None: config.pluginmanager.register(FileProgress(terminal), 'gradaug-file-progress')


def pytest_report_teststatus(report, config):
    "No letter per passing or skipped test (the file's line counts them); failures keep theirs."
    if config.option.verbose > 0 or hasattr(config, 'workerinput'): return None
    if report.when == 'call' and report.passed and not hasattr(report, 'wasxfail'): return 'passed', '', 'PASSED'
    if report.skipped and not hasattr(report, 'wasxfail'): return 'skipped', '', 'SKIPPED'
    return None
