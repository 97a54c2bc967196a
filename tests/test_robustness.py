"""`gradaug-robustness` as a user meets it: a quick run on the reference digit models, and short refusals (exit 1, no
traceback) for a checkpoint it cannot load and for data that is not there.

Most tests run the command in this process, through its console script's own argument parser; one starts the
installed console script to see the real stderr of a refusal."""
import csv
from functools import partial
import pytest, torch
from conftest import ROOT, run_cli, short_error

MODELS = ROOT/'nbs'/'_reference_models'
QUICK = ['--limit', '20', '--corruptions', 'fog', 'contrast', '--severities', '1', '5', '--epsilons', '0', '0.1']

@pytest.fixture
def robustness_cli(cli):
    "Run `gradaug-robustness` in this process (conftest's `cli`): (exit status, stdout, stderr)."
    return partial(cli, prog='gradaug-robustness')

short_error = partial(short_error, prog='gradaug-robustness')

def test_quick_run_writes_the_tables_and_plots(robustness_cli, tmp_path):
    out = tmp_path/'out'
    r = robustness_cli(MODELS/'baseline-s0.pt', MODELS/'gradaug-s0.pt', '--out', out, *QUICK)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ['attacks.csv', 'attacks.png',
                                                                    'corruption_errors.png', 'corruptions.csv',
                                                                    'summary.md']
    rows = list(csv.DictReader(open(out/'corruptions.csv')))
    assert {(r['model'], r['corruption'], r['severity']) for r in rows} == {
        (m, c, s) for m in ('baseline-s0', 'gradaug-s0') for c, s in [('clean', '0'), ('fog', '1'), ('fog', '5'),
                                                                      ('contrast', '1'), ('contrast', '5')]}
    attacks = {(r['model'], float(r['epsilon'])): float(r['accuracy']) for r in csv.DictReader(open(out/'attacks.csv'))}
    clean = {r['model']: float(r['error']) for r in rows if r['corruption'] == 'clean'}
    for m in clean: assert attacks[m, 0.0] == pytest.approx(100 - clean[m])   # FGSM at 0 is the clean accuracy
    summary = (out/'summary.md').read_text()
    assert "normalised by baseline-s0's errors" in summary and '| gradaug-s0 |' in summary, summary
    assert 'ε = 0.10' in summary and 'mCE' in summary, summary
    assert (out/'cache'/'digits-20-seed0'/'fog-5.npy').is_file()

def test_one_model_says_why_its_ces_are_100(robustness_cli, tmp_path):
    r = robustness_cli(MODELS/'baseline-s0.pt', '--out', tmp_path/'out', '--limit', '20', '--corruptions', 'fog',
                       '--severities', '1', '--attacks', 'none')
    assert r.returncode == 0, r.stderr
    assert 'note: with one model, its CEs are normalised by its own errors, so each is 100' in r.stdout, r.stdout
    assert 'gradaug-robustness BASELINE_RUN GRADAUG_RUN' in r.stdout, r.stdout

def test_refuses_a_checkpoint_it_cannot_load(robustness_cli, tmp_path):
    short_error(robustness_cli(tmp_path/'nowhere.pt', '--out', 'o'), 'does not exist')
    (tmp_path/'broken.pt').write_bytes(b'not a checkpoint at all')
    short_error(robustness_cli(tmp_path/'broken.pt', '--out', 'o'), 'is not a checkpoint: it is a text file')
    torch.save({'w': torch.zeros(2)}, tmp_path/'plain.pt')
    short_error(robustness_cli(tmp_path/'plain.pt', '--out', 'o'), 'is a plain state_dict')
    short_error(robustness_cli(tmp_path/'plain.pt', '--out', 'o', '--arch', 'resnet18', '--dataset', 'digits'),
                'do not fit ResNet')
    assert not (tmp_path/'o').exists()

def test_refuses_data_that_is_not_there(robustness_cli, tmp_path):
    (tmp_path/'empty').mkdir()
    short_error(robustness_cli(MODELS/'baseline-s0.pt', '--out', 'o', '--dataset', 'cifar10', '--data_root',
                               tmp_path/'empty'), 'cifar10: dataset not found')
    short_error(robustness_cli(MODELS/'baseline-s0.pt', '--out', 'o', '--corrupted', tmp_path/'no-such-folder',
                               '--attacks', 'none'), 'is not a folder')
    short_error(robustness_cli(MODELS/'baseline-s0.pt', '--out', 'o', '--corrupted', tmp_path/'empty',
                               '--corruptions', 'fog', '--attacks', 'none'), 'no ImageNet-C folder')
    short_error(robustness_cli(MODELS/'baseline-s0.pt', '--out', 'o', '--corruptions', 'rain'), "['rain']")
    assert not (tmp_path/'o').exists()

def test_out_is_required(robustness_cli):
    r = robustness_cli(MODELS/'baseline-s0.pt')
    assert r.returncode == 2 and '--out' in r.stderr, r.stderr

def test_console_script_refusal_has_no_traceback(tmp_path):
    r = run_cli(tmp_path/'nowhere', '--out', tmp_path/'o', cwd=tmp_path, prog='gradaug-robustness', timeout=120)
    short_error(r, 'does not exist')
