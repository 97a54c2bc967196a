"""Count the convolution shapes cuDNN's autotuner (`torch.backends.cudnn.benchmark`) meets in GradAug training.

With `cudnn.benchmark = True`, cuDNN times several algorithms the first time it sees a convolution shape (channels,
input size, kernel, stride, batch, dtype, layout) and caches the winner. GradAug changes the shapes every step: each
sub-network has a random width (its active channels) and a random input size. This script replays the trainer's own
random draws (the `GradAug` object that `gradaug.classify.build_gradaug` builds, with the trainer's generator, seed + 1)
for a paper recipe, runs each distinct (width, size) once through the model on PyTorch's `meta` device (shapes
only, no arithmetic), records every convolution's shape with forward hooks, and counts per epoch:

- `layer_shapes`: distinct (layer, in channels, out channels, input height, input width) seen in the epoch;
- `new_layer_shapes`: those never seen in an earlier epoch;
- `cudnn_shapes` / `new_cudnn_shapes`: the same without the layer name, with kernel, stride and padding (what the
  autotuner's cache is keyed on, batch and dtype being fixed in a run);
- `new_conv_calls`: sub-network and full-network convolution calls in the epoch that met a shape for the first time.

    python experiments/cudnn_shapes.py [--epochs 3] [--out nbs/cudnn_shapes.json]
"""
import argparse, json, platform, time
from pathlib import Path
import torch
from gradaug.config import load_config
from gradaug.classify import build_gradaug
from gradaug.config import build_model
from gradaug.slim import active_channels, width

RECIPES = dict(cifar='cifar100_wrn28_10_gradaug', imagenet='imagenet_resnet50_gradaug')
TRAIN_SIZES = dict(cifar=50_000, imagenet=1_281_167)   # CIFAR-100 and ImageNet-1k training images
NUM_CLASSES = dict(cifar=100, imagenet=1000)
INPUT_SIZE = dict(cifar=32, imagenet=224)

def conv_shapes(model:torch.nn.Module, w:float, size:int)->list:
    "Every conv's (layer, in, out, H, W, kernel, stride, padding) in one meta-device forward at width `w`."
    shapes, hooks = [], []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            def record(mod, inputs, output, name=name):
                x = inputs[0]
                shapes.append((name, x.shape[1], output.shape[1], x.shape[2], x.shape[3], mod.kernel_size, mod.stride,
                               mod.padding))
            hooks.append(m.register_forward_hook(record))
    try:
        with torch.no_grad(), width(model, w): model(torch.empty(2, 3, size, size, device='meta'))
    finally:
        for h in hooks: h.remove()
    return shapes

def geometry(model:torch.nn.Module, size:int)->list:
    "Every conv's (module, name, input height and width, kernel, stride, padding) at input `size` (full width)."
    convs = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    return [(convs[name], name, h, w_, k, st, pad) for name, _, _, h, w_, k, st, pad in conv_shapes(model, 1.0, size)]

def shapes_at(layers:list, w:float)->list:
    "`conv_shapes` at width `w` from the `geometry` of one input size, by slim's channel rule (no forward)."
    def active(m, c, slimmed): return active_channels(c, w, m.multiple_of.get(c, 1)) if slimmed else c
    return [(name, active(m, m.in_channels, m.slim_in), active(m, m.out_channels, m.slim_out), h, w_, k, st, pad)
            for m, name, h, w_, k, st, pad in layers]

def count(recipe:str, divisor:int, epochs:int)->dict:
    "Per-epoch shape counts of `recipe` (a key of RECIPES) with active channels rounded to `divisor`."
    cfg = load_config(RECIPES[recipe], divisor=divisor)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = build_model(cfg, NUM_CLASSES[recipe], 3)
    model = model.to('meta').train()
    generator = torch.Generator().manual_seed(cfg.seed + 1)   # the trainer's aug_generator
    gradaug = build_gradaug(cfg, model, generator)
    full_counts = sorted({m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)})
    steps = TRAIN_SIZES[recipe] // cfg.batch_size
    x = torch.empty(cfg.batch_size, 3, INPUT_SIZE[recipe], INPUT_SIZE[recipe], device='meta')
    cache, seen_layer, seen_cudnn, rows = {}, set(), set(), []
    def shapes_of(w, size):
        key = (tuple(active_channels(c, w, divisor) for c in full_counts), size)
        if key not in cache: cache[key] = shapes_at(layers[size], w)
        return cache[key]
    layers = {size: geometry(model, size) for size in set(cfg.sizes) | {INPUT_SIZE[recipe]}}
    for w in (cfg.alpha, (1 + cfg.alpha) / 2):   # the channel rule agrees with a real (meta-device) forward
        assert shapes_at(layers[cfg.sizes[-1]], w) == conv_shapes(model, w, cfg.sizes[-1]), (recipe, divisor, w)
    for epoch in range(epochs):
        layer_shapes, cudnn_shapes, calls, new_calls = set(), set(), 0, 0
        for _ in range(steps):
            runs = [(1.0, INPUT_SIZE[recipe])] + [(w, gradaug.transform(x).shape[-1]) for w in gradaug.sampler.sample()]
            for w, size in runs:
                for s in shapes_of(w, size):
                    calls += 1
                    new_calls += s not in seen_layer
                    seen_layer.add(s); layer_shapes.add(s); cudnn_shapes.add(s[1:])
        new_layer = len(layer_shapes - set().union(*(r['_layer'] for r in rows))) if rows else len(layer_shapes)
        new_cudnn = len(cudnn_shapes - set().union(*(r['_cudnn'] for r in rows))) if rows else len(cudnn_shapes)
        rows.append(dict(epoch=epoch + 1, layer_shapes=len(layer_shapes), new_layer_shapes=new_layer,
                         cudnn_shapes=len(cudnn_shapes), new_cudnn_shapes=new_cudnn, conv_calls=calls,
                         new_conv_calls=new_calls, _layer=layer_shapes, _cudnn=cudnn_shapes))
    baseline = {s[1:] for s in conv_shapes(model, 1.0, INPUT_SIZE[recipe])}
    return dict(recipe=RECIPES[recipe], model=cfg.model, divisor=divisor, n=cfg.n, alpha=cfg.alpha, sizes=cfg.sizes,
                batch_size=cfg.batch_size, steps_per_epoch=steps, conv_layers=len(conv_shapes(model, 1.0, 32)),
                baseline_cudnn_shapes=len(baseline),
                epochs=[{k: v for k, v in r.items() if not k.startswith('_')} for r in rows])

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=3); p.add_argument('--out', default='nbs/cudnn_shapes.json')
    a = p.parse_args()
    torch.set_num_threads(1)
    t0, results = time.time(), []
    for recipe in RECIPES:
        for divisor in (1, 8):
            results.append(count(recipe, divisor, a.epochs))
            first = results[-1]['epochs'][0]
            print(f"{recipe} divisor {divisor}: epoch 1 {first['layer_shapes']} layer shapes, "
                  f"{first['cudnn_shapes']} cuDNN shapes; later new: "
                  f"{[e['new_cudnn_shapes'] for e in results[-1]['epochs'][1:]]}", flush=True)
    meta = dict(torch=torch.__version__, machine=f"{platform.machine()}, {platform.processor() or 'cpu'}",
                seconds=round(time.time() - t0), command=f"python experiments/cudnn_shapes.py --epochs {a.epochs}")
    Path(a.out).write_text(json.dumps(dict(meta=meta, results=results), indent=1))
