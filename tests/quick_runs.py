"""Fixtures for tests that train in this process to check what a run does with its weights, checkpoints and messages
(resume exactness, refusals), not its test accuracy or its plot. `no_plots`: no learning curve is drawn (about 1 s a
drawing; metrics.csv/json are written as usual). `quick_epochs`: that, and each epoch's evaluation reads the first
`QUICK_TEST_IMAGES` test digits instead of all 1,000.

Neither changes what a run's weights depend on: the evaluation reads no random state but its own loader's generator
(which the training draws never use), and the plot is drawn from the history. Runs in other processes (the console
scripts, torchrun) evaluate on the whole test set as usual. Use `quick_epochs` only where no check reads the number of
test images, or compares an accuracy with that of a run that evaluated on the whole set. `close_workers`: stop the
persistent loader workers a test started, before the next test."""
import dataclasses
import pytest
from torch.utils.data import Subset
import gradaug.classify, gradaug.train
from gradaug.loaders import Shard, eval_shard, seeded_loader, whole_test_set

QUICK_TEST_IMAGES = 100

def _no_plot(*args, **kwargs): pass

def make_epochs_quick(setattr=setattr, plots_only:bool=False):
    "What `quick_epochs` (or, `plots_only`, `no_plots`) does, through `setattr` (monkeypatch's, or in a spawned process)."
    setattr(gradaug.train, 'plot_history', _no_plot)
    if plots_only: return
    get_loaders = gradaug.classify.get_loaders
    def fewer_test_images(*args, shard:Shard=Shard(), seed:int=0, **kwargs):
        loaders = get_loaders(*args, shard=shard, seed=seed, **kwargs)
        test = loaders.test
        few = eval_shard(Subset(whole_test_set(test), range(QUICK_TEST_IMAGES)), shard)
        quick = seeded_loader(few, test.batch_size, test.num_workers, test.pin_memory, seed, shuffle=False)
        return dataclasses.replace(loaders, test=quick)
    setattr(gradaug.classify, 'get_loaders', fewer_test_images)

@pytest.fixture
def no_plots(monkeypatch):
    "In-process runs draw no learning curve (metrics.csv/json are written as usual)."
    make_epochs_quick(monkeypatch.setattr, plots_only=True)

@pytest.fixture
def quick_epochs(monkeypatch):
    "In-process runs evaluate on the first `QUICK_TEST_IMAGES` test digits and draw no learning curve."
    make_epochs_quick(monkeypatch.setattr)


def close_workers(*loaders):
    """Stop the persistent worker processes of `loaders` now. Left to the garbage collector, each one's shutdown comes
    later, inside whatever test runs then, and waits out a timeout per worker: the tests after it in the same process
    ran up to 8x slower."""
    for loader in loaders:
        if getattr(loader, '_iterator', None) is not None: loader._iterator._shutdown_workers()
