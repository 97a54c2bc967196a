"""The GPU recipe's code paths: loader workers and exact resume, fp16 with a GradScaler across a resume (on CPU), and
the checks that need CUDA (marked `gpu`, skipped with a reason where no GPU is visible). The quick CPU checks of bf16,
channels-last and the GradScaler's skip are cells of nbs/12_train.ipynb ("Training on GPUs")."""
import math
import pytest, torch
from torch import nn
from torch.utils.data import Subset
from gradaug.config import TrainConfig
from gradaug.loaders import get_loaders, seeded_loader, whole_test_set
from gradaug.runtime import Runtime, apply_runtime, seed_everything, select_runtime
from gradaug.train import Trainer
from quick_runs import close_workers, no_plots

SMALL = dict(epochs=2, n=2, low_labels=300, batch_size=50, progress=False, seed=1, threads=1, device='cpu')

def trainer(out, runtime=None, criterion=None, test_images:int=None, **kw)->Trainer:
    "A `Trainer` of `SMALL` changed by `kw`; with `test_images`, it evaluates on only the first that many test digits."
    cfg = TrainConfig(out=str(out), **{**SMALL, **kw})
    seed_everything(cfg.seed)   # what `train` does through `apply_runtime`
    t = Trainer(cfg, runtime, criterion=criterion, log=lambda s: None)
    if test_images is not None:   # the evaluation reads no random state and changes no weight: a smaller one is enough
        few = Subset(whole_test_set(t.test_loader), range(test_images))
        t.test_loader = seeded_loader(few, cfg.eval_batch_size, t.test_loader.num_workers, seed=cfg.seed, shuffle=False)
    return t

def same_weights(a:nn.Module, b:nn.Module)->bool:
    return all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))

def epoch_batches(workers:int, augment:bool=True, start:int=0)->list:
    "The (images, labels) batches of epoch 0 of the 300-digit loader, from sample `start` on."
    loader = get_loaders('digits', 50, workers=workers, low_labels=300, seed=1, augment=augment).train
    loader.sampler.set_epoch(0, start)
    return list(loader)

def test_workers_keep_the_order_and_persist():
    plain, two = epoch_batches(0), epoch_batches(2)
    assert len(plain) == len(two) == 6
    for (_, y0), (_, y2) in zip(plain, two): assert torch.equal(y0, y2)   # same samples, same order
    loader = get_loaders('digits', 50, workers=2, low_labels=300, seed=1).train
    assert loader.persistent_workers and loader.num_workers == 2
    first = iter(loader); list(first)
    assert iter(loader) is first                                          # the same workers serve the next epoch
    close_workers(loader)

def test_workers_resume_mid_epoch_order_exact_augmentation_not():
    "What differs after a resume with workers: the augmentation draws, not the samples or their order."
    straight, resumed = epoch_batches(2), epoch_batches(2, start=100)
    for (_, y), (_, y_resumed) in zip(straight[2:], resumed): assert torch.equal(y, y_resumed)
    assert any(not torch.equal(x, x_resumed) for (x, _), (x_resumed, _) in zip(straight[2:], resumed))
    again = epoch_batches(2)
    for (x, _), (x_again, _) in zip(straight, again): assert torch.equal(x, x_again)   # a run is repeatable
    exact, exact_resumed = epoch_batches(2, augment=False), epoch_batches(2, augment=False, start=100)
    for (x, y), (xr, yr) in zip(exact[2:], exact_resumed): assert torch.equal(x, xr) and torch.equal(y, yr)

def test_trainer_with_workers_resumes_exactly_without_augmentation(tmp_path, no_plots):
    short = dict(workers=2, augment=False, steps_per_epoch=3, batch_size=20, test_images=100)   # 2 epochs of 3 steps
    a = trainer(tmp_path/'straight', **short); a.fit()
    assert a.runtime.workers == 2 and a.train_loader.persistent_workers
    b = trainer(tmp_path/'cut', **short); b.fit(max_steps=4)
    c = trainer(tmp_path/'cut', resume=str(tmp_path/'cut'), **short); c.fit()   # cut mid-epoch 2, resumed
    close_workers(*(t.train_loader for t in (a, b, c)), *(t.test_loader for t in (a, b, c)))
    assert same_weights(a.model, c.model)
    assert [h['train_loss'] for h in a.history] == [h['train_loss'] for h in c.history]

class _InfGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x): return x.clone()
    @staticmethod
    def backward(ctx, g): return torch.full_like(g, math.inf)

class InfGradAt(nn.Module):
    "Cross-entropy whose backward overflows at its k-th call (as an fp16 overflow would)."
    def __init__(self, k): super().__init__(); self.k, self.calls = k, 0
    def forward(self, out, y):
        self.calls += 1
        return nn.functional.cross_entropy(_InfGrad.apply(out) if self.calls == self.k else out, y)

def test_fp16_gradscaler_state_survives_a_resume(tmp_path, no_plots):
    "fp16 autocast + GradScaler on CPU: a skipped step, a cut, a resume; bit-identical to the unstopped run."
    fp16 = Runtime(torch.device('cpu'), torch.float16, False, 0, 1)
    # fp16 convolutions are slow on a CPU: 6 steps of 4 digits, and each epoch's evaluation on 20 test digits
    short = dict(steps_per_epoch=3, batch_size=4, test_images=20)
    a = trainer(tmp_path/'straight', fp16, InfGradAt(2), **short); a.fit()
    b = trainer(tmp_path/'cut', fp16, InfGradAt(2), **short); b.fit(max_steps=4)
    assert b.scaler.get_scale() == 32768.                                 # step 2 was skipped, the scale halved
    c = trainer(tmp_path/'cut', fp16, resume=str(tmp_path/'cut'), **short)
    assert c.scaler.state_dict() == b.scaler.state_dict()                 # the scaler came back from the checkpoint
    c.fit()
    assert same_weights(a.model, c.model)
    assert a.scaler.state_dict() == c.scaler.state_dict()
    fresh = trainer(tmp_path/'other', fp16, **short)
    assert fresh.scaler.get_scale() == 65536.                             # not a scale left over in the process

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_runtime_and_pinned_loaders():
    rt = select_runtime(TrainConfig(device='cuda', dataset='cifar10', cudnn_benchmark=False))
    assert rt.channels_last and rt.amp_dtype in (torch.bfloat16, torch.float16) and rt.workers >= 1
    apply_runtime(rt)
    assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.allow_tf32
    x, _ = next(iter(get_loaders('digits', 50, workers=2, pin_memory=True, low_labels=300).train))
    assert x.is_pinned()

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize('amp_dtype', [torch.bfloat16, torch.float16])
def test_cuda_gradaug_step_matches_cpu_fp32(tmp_path, amp_dtype):
    ref = trainer(tmp_path/'cpu', Runtime(torch.device('cpu'), None, False, 0, 1))
    gpu = trainer(tmp_path/'gpu', Runtime(torch.device('cuda'), amp_dtype, True, 0, 1))
    assert (gpu.scaler is not None) == (amp_dtype == torch.float16)
    x, y = next(iter(ref.train_loader))
    ref.train_step(x, y); gpu.train_step(x, y)
    g_ref = torch.cat([p.grad.flatten() for p in ref.model.parameters()])
    g_gpu = torch.cat([p.grad.float().flatten().cpu() for p in gpu.model.parameters()])
    assert nn.functional.cosine_similarity(g_gpu, g_ref, dim=0) > 0.99
