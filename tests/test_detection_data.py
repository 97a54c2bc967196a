"""Detection data across processes: worker processes load the same canvases, in the same order, as the main process,
and a loader restarted mid-epoch in a fresh process continues where the first one was."""
import subprocess, sys

import torch

from gradaug.detection_data import DigitCanvases, detection_loader

def _batches(loader)->list:
    "(image ids, images, boxes, masks) of every batch."
    return [([t['image_id'] for t in targets], torch.stack(images), [t['boxes'] for t in targets],
             [t['masks'] for t in targets]) for images, targets in loader]

def _same(a:list, b:list):
    assert len(a) == len(b)
    for (ids_a, images_a, boxes_a, masks_a), (ids_b, images_b, boxes_b, masks_b) in zip(a, b):
        assert ids_a == ids_b
        assert torch.equal(images_a, images_b)
        assert all(torch.equal(x, y) for x, y in zip(boxes_a, boxes_b))
        assert all(torch.equal(x, y) for x, y in zip(masks_a, masks_b))

def test_worker_processes_load_what_the_main_process_loads():
    canvases = DigitCanvases('train', 24, seed=3)
    for shuffle in (True, False):
        in_process = _batches(detection_loader(canvases, 4, shuffle=shuffle, seed=1))
        with_workers = _batches(detection_loader(canvases, 4, shuffle=shuffle, seed=1, workers=2))
        _same(in_process, with_workers)
    ids = [i for batch_ids, *_ in in_process for i in batch_ids]
    assert ids == list(range(24))                                  # evaluation order: the set's own

def test_a_fresh_process_resumes_the_epoch_where_it_stopped():
    loader = detection_loader(DigitCanvases('train', 24, seed=3), 4, seed=1, steps_per_epoch=9)
    loader.sampler.set_epoch(2)
    ids = [t['image_id'] for _, targets in loader for t in targets]
    code = ("from gradaug.detection_data import DigitCanvases, detection_loader\n"
            "loader = detection_loader(DigitCanvases('train', 24, seed=3), 4, seed=1, steps_per_epoch=9)\n"
            "loader.sampler.set_epoch(2, start=12)\n"
            "print(' '.join(str(t['image_id']) for _, targets in loader for t in targets))")
    resumed = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.split()
    assert [int(i) for i in resumed] == ids[12:]
    assert len(ids) == 36 and len(set(ids)) == 24                   # 9 batches of 4: reshuffles past 24 canvases
