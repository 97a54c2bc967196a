"""The detection GradAug step on torchvision's Faster and Mask R-CNN (untrained, small images, CPU): a few training
iterations, the BN rule, the transform's size after an error, width-1 equality of the paper's detector, mixed
precision, and DDP (2 CPU processes, gloo): one all-reduce per step gives the averaged gradient."""
import copy, os, tempfile
from unittest import mock
import pytest
import torch, torch.distributed as dist
from gradaug.detection import build_detector, slim_detector, DetectionGradAug
from gradaug.slim import slim_layers
from conftest import two_ranks

SMALL = dict(min_size=64, max_size=96, rpn_pre_nms_top_n_train=100, rpn_post_nms_top_n_train=50,
             rpn_pre_nms_top_n_test=50, rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=32,
             box_batch_size_per_image=32, box_detections_per_img=20)

def batch(seed:int, n:int=2, masks:bool=False):
    "Noise images with one or two bright squares each: boxes, labels and (for Mask R-CNN) masks."
    g = torch.Generator().manual_seed(seed)
    images, targets = [], []
    for i in range(n):
        h, w = 56 + 8*i, 80
        image = torch.rand(3, h, w, generator=g)*0.2
        boxes, mask = [], torch.zeros(1 + i % 2, h, w, dtype=torch.uint8)
        for j in range(1 + i % 2):
            x0, y0 = int(torch.randint(0, w - 20, (), generator=g)), int(torch.randint(0, h - 20, (), generator=g))
            image[:, y0:y0 + 20, x0:x0 + 20] += 0.8
            mask[j, y0:y0 + 20, x0:x0 + 20] = 1
            boxes.append([x0, y0, x0 + 20, y0 + 20])
        target = {'boxes': torch.tensor(boxes, dtype=torch.float32), 'labels': torch.arange(1, len(boxes) + 1)}
        if masks: target['masks'] = mask
        images.append(image)
        targets.append(target)
    return images, targets

def bn_buffers(model):
    return {k: v.clone() for k, v in model.state_dict().items() if 'running' in k or 'num_batches' in k}

@pytest.mark.parametrize('arch', ['maskrcnn_resnet18_fpn'])
def test_training_iterations(arch):
    """Finite losses; every trainable parameter has a gradient, frozen ones none; BN buffers as after the full pass;
    two iterations with an optimizer step between them. On Mask R-CNN: 17_detection checks one Faster R-CNN step
    the same way (losses, gradients, frozen stages, BN buffers, the transform's size)."""
    torch.manual_seed(0)
    model = build_detector(arch, trainable_layers=3, **SMALL)
    ga = DetectionGradAug(model, n=2, alpha=0.8, generator=torch.Generator().manual_seed(0))
    trainable = [p for p in model.parameters() if p.requires_grad]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert frozen and len(trainable) > len(frozen)
    opt = torch.optim.SGD(trainable, lr=0.01, momentum=0.9)
    for it in range(2):
        images, targets = batch(it, masks=arch.startswith('mask'))
        full_only = copy.deepcopy(model)
        torch.manual_seed(10 + it)   # the same region sampling in the full pass of both
        DetectionGradAug(full_only, n=0).step(images, targets)
        opt.zero_grad(set_to_none=True)
        torch.manual_seed(10 + it)
        res = ga.step(images, targets)
        losses = [res.loss, *res.losses.values(), *res.sub_losses]
        assert all(torch.isfinite(torch.tensor(losses))) and len(res.sub_losses) == 2
        assert ('loss_mask' in res.losses) == arch.startswith('mask')
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)
        zero = [n for n, p in model.backbone.body.named_parameters() if p.requires_grad and not p.grad.abs().sum() > 0]
        assert not zero, zero   # every trainable parameter of the slimmed body learns
        assert all(p.grad is None for p in frozen)
        expected, got = bn_buffers(full_only), bn_buffers(model)
        assert expected and all(torch.equal(expected[k], got[k]) for k in expected)
        assert (model.transform.min_size, model.transform.max_size) == ((64,), 96)
        opt.step()

def test_size_and_width_restored_when_a_pass_raises():
    torch.manual_seed(0)
    model = build_detector('maskrcnn_resnet18_fpn', **SMALL)
    ga = DetectionGradAug(model, n=3, sizes=[48, 40])
    calls = []
    def fail_second_pass(module, args):
        calls.append(module.transform.min_size)
        if len(calls) == 3: raise RuntimeError('injected failure')
    model.register_forward_pre_hook(fail_second_pass)
    with pytest.raises(RuntimeError, match='injected failure'): ga.step(*batch(0, masks=True))
    assert calls[0] == (64,) and calls[1] in ((48,), (40,))
    assert (model.transform.min_size, model.transform.max_size) == ((64,), 96)
    assert {m.width for m in slim_layers(model)} == {1.0}

def test_paper_detector_width_one_is_bit_identical():
    "Mask R-CNN R50-FPN with torchvision's FrozenBatchNorm2d: the slimmed detector at width 1 is the same function."
    torch.manual_seed(0)
    ref = build_detector('maskrcnn_resnet50_fpn', frozen_bn=True, **{**SMALL, 'box_score_thresh': 0.0}).eval()
    for t in ref.backbone.body.buffers(): t.copy_(torch.rand_like(t) + 0.5)
    model = slim_detector(copy.deepcopy(ref))
    assert list(model.state_dict()) == list(ref.state_dict())
    images = [torch.rand(3, 70, 90), torch.rand(3, 64, 64)]
    with torch.no_grad(): got, expected = model(images), ref(images)
    assert len(expected[0]['boxes']) > 0
    for g, e in zip(got, expected):
        for k in e: assert torch.equal(g[k], e[k]), k

def test_mixed_precision_with_grad_scaler():
    "bf16 autocast and a GradScaler (CPU bf16 is slow: 32-pixel images, 8 ROIs, 1 sub-network): finite, unscaled grads."
    torch.manual_seed(0)
    model = build_detector('fasterrcnn_resnet18_fpn', **{**SMALL, 'min_size': 32, 'max_size': 48,
                                                         'box_batch_size_per_image': 8})
    ga = DetectionGradAug(model, n=1, distill='fpn')
    scaler = torch.amp.GradScaler('cpu', init_scale=2.**8)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    res = ga.step(*batch(0), scaler=scaler, amp_dtype=torch.bfloat16)
    assert all(torch.isfinite(torch.tensor([res.loss, *res.sub_losses, *res.distances])))
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    unscaled = [g.clone()/2.**8 for g in grads]
    scaler.step(opt)        # unscales the gradients, then SGD
    scaler.update()
    for g, u in zip(grads, unscaled): torch.testing.assert_close(g, u)

# ---- DDP: the detector's gradients averaged over 2 ranks with one all-reduce per step ----

def make_detector():
    torch.manual_seed(0)
    return build_detector('fasterrcnn_resnet18_fpn', trainable_layers=3, **SMALL)

def rank_step(model, rank):
    ga = DetectionGradAug(model, n=2, alpha=0.8, generator=torch.Generator().manual_seed(5))  # same draws on each rank
    torch.manual_seed(100 + rank)   # each rank's region sampling, as in its single-process twin
    with mock.patch.object(dist, 'all_reduce', wraps=dist.all_reduce) as all_reduce:
        ga.step(*batch(20 + rank))   # each rank its own images
    return all_reduce.call_count

def ddp_worker(rank, world, port, out_dir):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.set_num_threads(1)
    model = make_detector()
    ddp = torch.nn.parallel.DistributedDataParallel(model, bucket_cap_mb=1024)   # one bucket: one all-reduce
    count = rank_step(ddp, rank)
    torch.save({'count': count, 'grads': [p.grad for p in model.parameters()], 'buffers': bn_buffers(model)},
               f'{out_dir}/rank{rank}.pt')
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)   # as in test_ddp.py: skip interpreter teardown, where gloo's threads sometimes abort the process

def test_ddp_one_allreduce_and_averaged_gradients():
    with tempfile.TemporaryDirectory() as d:
        two_ranks(ddp_worker, d)
        got = [torch.load(f'{d}/rank{r}.pt') for r in range(2)]
    torch.set_num_threads(1)
    expected = []
    for rank in range(2):
        model = make_detector()
        rank_step(model, rank)
        expected.append(({'grads': [p.grad for p in model.parameters()], 'buffers': bn_buffers(model)}))
    for r in range(2):
        assert got[r]['count'] == 1
        for g, a, b in zip(got[r]['grads'], expected[0]['grads'], expected[1]['grads']):
            if a is None: assert g is None                      # frozen stages
            else: torch.testing.assert_close(g, (a + b)/2, rtol=1e-5, atol=1e-7)
        for k, v in got[r]['buffers'].items():
            a, b = expected[0]['buffers'][k], expected[1]['buffers'][k]
            want = (a + b)/2 if v.is_floating_point() else a       # DDP's broadcast buffers: averaged
            torch.testing.assert_close(v, want, rtol=1e-5, atol=1e-7)
    assert any(g is None for g in got[0]['grads']) and any(g is not None for g in got[0]['grads'])
