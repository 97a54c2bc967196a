"""gradaug-detect under torchrun: 2 CPU processes (gloo), a tiny Faster R-CNN R18-FPN on the digit canvases.

One launch of torchrun's elastic agent (max_restarts=1; `launch` in tests/torchrun_worker.py, module gradaug.detect)
runs one uninterrupted run and then one whose rank 1 dies once, restarted by the agent: both finish, the ranks agree,
rank 0 alone reports, the restarted run resumes from its checkpoint and ends with the uninterrupted run's weights, and
the mAP each run reports (every rank evaluated its shard of the test set) equals one process's evaluation of its
checkpoint on the whole test set (an untrained detector's mAP is 0 at this size, so a second test checks the
distributed evaluation with 2 forked gloo processes on imperfect predictions, mAP between 0 and 1)."""
import os, tempfile
import pytest, torch
import torch.distributed as dist
from torch import nn
from gradaug.detect import detection_datasets, load_detector
from gradaug.detection_data import IOU_TYPES, DigitCanvases, detection_loader, evaluate_detection
from gradaug.loaders import Shard
from gradaug.distributed import gather_objects
from test_distributed import dumps              # the torchrun harness of gradaug-train's test, on gradaug.detect
from torchrun_worker import launch
from conftest import two_ranks

# 1 epoch of 2 global steps (2 x 2 canvases), a checkpoint after every step, lr x 2; rank 1 dies in step 2, mid-epoch
# (one epoch: one evaluation per run; the restart still resumes mid-epoch, from the checkpoint of step 1).
# 5 test canvases: shards of 3 and 2. 96-pixel canvases seen at 64 pixels, untrained: many low-score detections.
SETTINGS = ['arch=fasterrcnn_resnet18_fpn', 'train_images=8', 'test_images=5', 'canvas=96', 'min_size=64',
            'max_size=64', 'batch_size=2', 'eval_batch_size=2', 'epochs=1', 'steps_per_epoch=2', 'proposals=50',
            'rois_per_image=32', 'n=1', 'seed=1', 'progress=false', 'threads=1', 'checkpoint_every=1', 'scale_lr=true',
            'lr=0.005']   # explicit: the scaled lr below must not follow the default's changes
DIE_AT = 1

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "The folder and the completed torchrun launch that ran the uninterrupted run and the restarted one."
    tmp = tmp_path_factory.mktemp('torchrun_detect')
    return tmp, launch(tmp, SETTINGS, die_at=DIE_AT, module='gradaug.detect', max_restarts=1)

def test_two_processes_train_one_run_and_agree(runs):
    tmp, launch = runs
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert sorted(p.name for p in (tmp/'runs').iterdir()) == ['restarted', 'straight']   # one folder per run
    assert 'global batch 4 (2 per process x 2 processes); lr 0.01 (0.005 x 2, linear scaling)' in launch.stdout
    assert '8 training images, 2 per step, 2 steps per epoch; 5 test images' in launch.stdout
    assert launch.stdout.count('final test box mAP') == 2        # one report per run: rank 0 reports, rank 1 does not
    ranks = dumps(tmp, 'straight', 0)
    assert ranks[0]['steps'] == 2 and len(ranks[0]['history']) == 1
    assert ranks[0]['history'][0]['lr'] == pytest.approx(0.01)  # scale_lr: 0.005 x 2 (the peak, after a 1-step warmup)
    for k, v in ranks[0]['model'].items(): torch.testing.assert_close(v, ranks[1]['model'][k], rtol=0, atol=0)
    maps = [[(r['box_map'], r['box_map_50'], r['train_loss']) for r in rank['history']] for rank in ranks]
    assert maps[0] == maps[1]                                    # the same mAP and (summed) losses on both ranks

def test_rank_dies_and_restart_resumes_exactly(runs):
    tmp, launch = runs
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert not (tmp/'dumps'/'restarted-rank0-attempt0.pt').exists()        # the first attempt did not finish
    assert not (tmp/'dumps'/'straight-rank0-attempt1.pt').exists()         # the restart did not rerun `straight`
    assert 'resuming runs/restarted at epoch 1 of 1, step 1' in launch.stdout
    final, reference = dumps(tmp, 'restarted', 1)[0], dumps(tmp, 'straight', 0)[0]
    for k, v in final['model'].items(): torch.testing.assert_close(v, reference['model'][k], rtol=0, atol=0)
    assert [r['box_map'] for r in final['history']] == [r['box_map'] for r in reference['history']]

def test_reported_map_equals_one_process_evaluation(runs):
    "(0 here, after 2 steps from scratch: `test_distributed_evaluation_equals_one_process` checks mAPs above 0.)"
    tmp = runs[0]
    reported = dumps(tmp, 'straight', 0)[0]['history'][-1]
    model, cfg = load_detector(tmp/'runs'/'straight')
    torch.set_num_threads(1)
    alone = evaluate_detection(model, detection_loader(detection_datasets(cfg)[1], 5, shuffle=False))
    assert (reported['box_map'], reported['box_map_50']) == (alone['map'], alone['map_50'])

# ---- evaluate_detection under 2 processes: each its shard, the mAP of the whole test set ----

class Imperfect(nn.Module):
    "A stand-in detector: each canvas's digits with boxes moved by up to 6 pixels, masks shifted, random scores."
    def __init__(self, canvases):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.targets = {image.numpy().tobytes(): target for image, target in canvases}
    def forward(self, images): return [self.predict(self.targets[image.numpy().tobytes()]) for image in images]
    @staticmethod
    def predict(target):
        g, n = torch.Generator().manual_seed(int(target['image_id'])), len(target['labels'])
        return dict(boxes=(target['boxes'] + torch.randint(-6, 7, (n, 4), generator=g)).clamp(0, 128),
                    labels=target['labels'], scores=torch.rand(n, generator=g),
                    masks=target['masks'].roll(1, dims=2)[:, None].float())

CANVASES = 7   # shards of 4 and 3

def eval_worker(rank, world, port, out_dir):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world)
    torch.set_num_threads(1)
    canvases = DigitCanvases('test', CANVASES, seed=0)
    shard = detection_loader(canvases, 2, shuffle=False, shard=Shard(rank, world))   # this rank's test images
    model = Imperfect(canvases)
    torch.save(dict(images=len(shard.dataset), merged=evaluate_detection(model, shard, IOU_TYPES, gather=gather_objects),
                    alone=evaluate_detection(model, shard, IOU_TYPES)), f'{out_dir}/rank{rank}.pt')
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)   # as in test_ddp.py: skip interpreter teardown, where gloo's threads sometimes abort the process

def test_distributed_evaluation_equals_one_process():
    with tempfile.TemporaryDirectory() as d:
        two_ranks(eval_worker, d)
        got = [torch.load(f'{d}/rank{r}.pt') for r in range(2)]
    canvases = DigitCanvases('test', CANVASES, seed=0)
    one = evaluate_detection(Imperfect(canvases), detection_loader(canvases, 2, shuffle=False), IOU_TYPES)
    assert 0 < one['map'] < 1 and 0 < one['segm_map'] < 1, one
    assert [g['images'] for g in got] == [4, 3]
    for g in got: assert g['merged'] == one                      # every stat, boxes and masks, on both ranks
    assert got[0]['alone'] != one and got[1]['alone'] != one     # a shard alone scores differently
