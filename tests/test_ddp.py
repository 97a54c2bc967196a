"GradAug under DistributedDataParallel (2 CPU processes, gloo): one all-reduce per step gives the averaged GradAug gradient."
import os, tempfile
import torch, torch.distributed as dist
from torch import nn
from gradaug.core import GradAug
from gradaug.slim import slim
from conftest import two_ranks

WIDTHS = [0.9, 0.7]

def make_model():
    torch.manual_seed(0)
    return slim(nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2),
                              nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 5)).double())

def data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(8, 3, 12, 12, generator=g, dtype=torch.float64), torch.randint(0, 5, (8,), generator=g)

def reducer_no_sync_step(rank):
    "One GradAug step through DDP's reducer with `no_sync` (the caller's path): gradients and no_sync calls."
    ddp = nn.parallel.DistributedDataParallel(make_model())
    x, y = data()
    shard = slice(rank*4, rank*4 + 4)
    calls = []
    def counting_no_sync():
        calls.append(1); return ddp.no_sync()
    GradAug(ddp, n=2).step(x[shard], y[shard], nn.CrossEntropyLoss(), widths=WIDTHS, no_sync=counting_no_sync)
    return {'grads': [p.grad for p in ddp.module.parameters()], 'no_sync_calls': len(calls)}

def test_ddp_matches_averaged_single_process(two_rank_results):
    got = [results['reducer'] for results in two_rank_results]     # from the one 2-process launch below
    x, y = data()
    expected = []
    for r in range(2):
        m = make_model()
        GradAug(m, n=2).step(x[r*4:r*4+4], y[r*4:r*4+4], nn.CrossEntropyLoss(), widths=WIDTHS)
        expected.append([p.grad for p in m.parameters()])
    avg = [(a + b)/2 for a, b in zip(*expected)]
    for r in range(2):
        assert got[r]['no_sync_calls'] == 2          # 3 passes: the first two skip the all-reduce
        for g, e in zip(got[r]['grads'], avg): torch.testing.assert_close(g, e, rtol=1e-10, atol=1e-12)


# ---- GradAug recognises a DDP model: one explicit all-reduce after the last backward (width, depth, frozen) ----
from unittest import mock
import pytest
from gradaug.models import create_model
from gradaug.sampler import DepthSampler

def make_wrn(kind):
    torch.manual_seed(0)
    model = create_model('wrn10_1', num_classes=10, in_chans=1).double()
    if kind == 'frozen':
        for p in model.parameters(): p.requires_grad_(False)
        for p in model.get_classifier().parameters(): p.requires_grad_(True)
    return model

def make_gradaug(model, kind):
    gen = torch.Generator().manual_seed(5)            # the same sub-network draws on every rank
    if kind == 'depth': return GradAug(model, sampler=DepthSampler(3, 0.5, gen, model=model))
    return GradAug(model, n=3, alpha=0.7, generator=gen)

def digit_batch(rank):
    g = torch.Generator().manual_seed(10 + rank)      # each rank its own data
    return torch.randn(4, 1, 28, 28, generator=g, dtype=torch.float64), torch.randint(0, 10, (4,), generator=g)

def train_two_steps(rank, kind):
    model = make_wrn(kind)
    ddp = nn.parallel.DistributedDataParallel(model)
    ga = make_gradaug(ddp, kind)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1, momentum=0.9)
    x, y = digit_batch(rank)
    counts, first_grads = [], None
    for step in range(2):
        opt.zero_grad(set_to_none=True)
        with mock.patch.object(dist, 'all_reduce', wraps=dist.all_reduce) as all_reduce:
            ga.step(x, y, nn.CrossEntropyLoss())
        counts.append(all_reduce.call_count)
        if step == 0: first_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
        opt.step()
    return dict(counts=counts, grads=first_grads, state=model.state_dict())

def allreduce_worker(rank, world, port, out_dir):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.set_num_threads(1)
    results = {kind: train_two_steps(rank, kind) for kind in KINDS}
    results['reducer'] = reducer_no_sync_step(rank)
    torch.save(results, f'{out_dir}/rank{rank}.pt')
    dist.barrier()   # neither rank tears gloo down while the other still uses it
    dist.destroy_process_group()
    # all work is done and saved; skip interpreter teardown, where a background thread of the gloo/torch runtime
    # sometimes aborts the process ('terminate called without an active exception', about 1 run in 5 here)
    os._exit(0)

KINDS = ['width', 'depth', 'frozen']

@pytest.fixture(scope='module')
def two_rank_results():
    """Each rank's all-reduce counts, first-step gradients and final weights, for every kind of sub-network, and its
    gradients from one step through DDP's reducer with no_sync: one 2-process launch serves every test in this file."""
    with tempfile.TemporaryDirectory() as d:
        two_ranks(allreduce_worker, d)
        return [torch.load(f'{d}/rank{r}.pt') for r in range(2)]

@pytest.mark.parametrize('kind', ['width', 'depth', 'frozen'])
def test_one_allreduce_per_step_and_equal_gradients(two_rank_results, kind):
    got = [results[kind] for results in two_rank_results]
    expected = []
    for r in range(2):                                 # each rank's shard in one process, then averaged
        model = make_wrn(kind)
        x, y = digit_batch(r)
        make_gradaug(model, kind).step(x, y, nn.CrossEntropyLoss())
        expected.append([p.grad for p in model.parameters()])
    for r in range(2):
        assert got[r]['counts'] == [1, 1]
        for g, a, b in zip(got[r]['grads'], *expected):
            if a is None: assert g is None
            else: torch.testing.assert_close(g, (a + b)/2, rtol=1e-9, atol=1e-12)
    assert any(g is None for g in got[0]['grads']) == (kind == 'frozen')
    for k, v in got[0]['state'].items(): torch.testing.assert_close(v, got[1]['state'][k], rtol=0, atol=0)

def test_static_graph_refused():
    dist.init_process_group('gloo', store=dist.HashStore(), rank=0, world_size=1)
    try:
        with pytest.raises(ValueError, match='static_graph=True.*PyTorch'):
            GradAug(nn.parallel.DistributedDataParallel(make_wrn('width'), static_graph=True))
    finally: dist.destroy_process_group()
