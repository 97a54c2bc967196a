"""What should a detection sub-network learn? Ground-truth losses vs FPN distillation, on the digit canvases, CPU.

Trains an untrained Faster R-CNN ResNet-18-FPN (small: 64-pixel canvases, a 256-wide box head) with
`DetectionGradAug` for each sub-network loss, from the same initial weights and batches:

- `baseline`: plain training (n=0), for reference;
- `gt`: sub-networks learn their ground-truth detection losses (`distill=None`);
- `fpn`: the same plus the distance of their FPN maps to the full network's (`distill='fpn'`, weight 1);
- `fpn_only`: the FPN distance alone (`ground_truth=False`), the analogue of the classification recipe.

Reports, on held-out test canvases, the full network's summed ground-truth loss (BN in eval mode, the same region
sampling for every run) and torchmetrics' box mAP. Variants run in parallel processes of one thread each. Writes one
CSV row per run to experiments/results-detect-distill.csv.

    nice -n 10 .venv/bin/python experiments/detect_distill.py --steps 150 --variants gt fpn"""
import argparse, csv, multiprocessing, time
from pathlib import Path
import torch
from torchvision.models.detection.faster_rcnn import TwoMLPHead, FastRCNNPredictor
from gradaug.detection import build_detector, DetectionGradAug
from gradaug.detection_data import DigitCanvases, detection_loader, evaluate_detection

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {'baseline': dict(n=0), 'gt': dict(n=2), 'fpn': dict(n=2, distill='fpn'),
            'fpn_only': dict(n=2, distill='fpn', ground_truth=False)}
CANVAS = dict(canvas=64, max_digits=3, digit_size=(16, 32))
DETECTOR = dict(min_size=64, max_size=64, rpn_pre_nms_top_n_train=200, rpn_post_nms_top_n_train=100,
                rpn_pre_nms_top_n_test=100, rpn_post_nms_top_n_test=50, rpn_batch_size_per_image=64,
                box_batch_size_per_image=64, box_detections_per_img=20)

def small_detector(seed:int):
    "The measured detector: ResNet-18-FPN Faster R-CNN with a 256-wide box head (the same weights for every variant)."
    torch.manual_seed(seed)
    return build_detector('fasterrcnn_resnet18_fpn', num_classes=None, box_head=TwoMLPHead(256*7*7, 256),
                          box_predictor=FastRCNNPredictor(256, 11), **DETECTOR)

@torch.no_grad()
def held_out_loss(model, loader, seed:int)->float:
    "Mean summed ground-truth loss of the full network: losses need train mode; BN uses its running statistics."
    modes = {m: m.training for m in model.modules()}
    rng = torch.get_rng_state()
    torch.manual_seed(seed)   # the same region sampling for every run
    try:
        model.train()
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d): m.eval()
        losses = [sum(model(images, targets).values()).item() for images, targets in loader]
    finally:
        for m, mode in modes.items(): m.training = mode
        torch.set_rng_state(rng)
    return sum(losses)/len(losses)

def run(variant:str, seed:int, steps:int, batch:int, lr:float, n_train:int, n_test:int)->dict:
    torch.set_num_threads(1)
    model = small_detector(seed)
    train = detection_loader(DigitCanvases('train', n_train, seed=seed, **CANVAS), batch, seed=seed,
                             steps_per_epoch=steps)
    test = detection_loader(DigitCanvases('test', n_test, seed=seed, **CANVAS), 8, shuffle=False)
    ga = DetectionGradAug(model, alpha=0.8, generator=torch.Generator().manual_seed(seed), **VARIANTS[variant])
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)
    warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1)/20))
    torch.manual_seed(seed + 1)
    start, train_losses = time.time(), []
    for step, (images, targets) in enumerate(train):
        opt.zero_grad(set_to_none=True)
        res = ga.step(images, targets)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        warmup.step()
        train_losses.append(res.loss)
        if step % 25 == 0: print(f'{variant} seed {seed} step {step} loss {res.loss:.3f}', flush=True)
    seconds = time.time() - start
    metrics = evaluate_detection(model, test)
    row = dict(variant=variant, seed=seed, steps=steps, batch=batch, seconds=round(seconds, 1),
               train_loss_last25=round(sum(train_losses[-25:])/len(train_losses[-25:]), 4),
               held_out_loss=round(held_out_loss(model, test, seed), 4),
               map=round(metrics['map'], 4), map_50=round(metrics['map_50'], 4))
    print(row, flush=True)
    return row

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variants', nargs='+', default=['gt', 'fpn'], choices=list(VARIANTS))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--steps', type=int, default=150)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--lr', type=float, default=0.01)
    parser.add_argument('--n-train', type=int, default=256)
    parser.add_argument('--n-test', type=int, default=48)
    parser.add_argument('--jobs', type=int, default=2, help='variants trained at once (processes of one thread)')
    parser.add_argument('--out', default=str(ROOT/'experiments'/'results-detect-distill.csv'))
    a = parser.parse_args()
    jobs = [(v, s, a.steps, a.batch, a.lr, a.n_train, a.n_test) for s in a.seeds for v in a.variants]
    with multiprocessing.get_context('fork').Pool(a.jobs) as pool: rows = pool.starmap(run, jobs)
    with open(a.out, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f'wrote {a.out}')

if __name__ == '__main__': main()
