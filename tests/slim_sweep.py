"""The check behind the model sweeps of tests/test_slim_torchvision.py and tests/test_slim_timm.py: slim a freshly built
model and report whether it works, is refused, or crashes."""
import copy, torch
from gradaug.slim import slim, width, extract
from gradaug.depgraph import check_masked

OUTCOMES = ('works', 'refused', 'crashed')

def slim_outcome(build, size:int, w:float=0.6, tol:float=1e-5)->tuple:
    """('works' | 'refused' | 'crashed', detail) for `slim` on the model `build()` returns, fed `size`-pixel images:
    works = slims, width 1.0 bit-identical, masked-channel / LayerNorm reference at width `w`, `extract` matches."""
    torch.manual_seed(0)
    try: model = build().eval()
    except Exception as e: return 'crashed', f'build: {type(e).__name__}: {e}'
    reference, x = copy.deepcopy(model), torch.randn(2, 3, size, size)
    try: slim(model, example=torch.zeros(1, 3, size, size))
    except (ValueError, TypeError) as e: return 'refused', str(e)
    except Exception as e: return 'crashed', f'slim: {type(e).__name__}: {e}'
    try:
        with torch.no_grad(): assert torch.equal(reference(x), model(x)), 'width 1.0 differs'
        check_masked(model, x, w, tol=tol)
        small = extract(model, w).eval()
        with torch.no_grad(), width(model, w): torch.testing.assert_close(small(x), model(x), rtol=1e-4, atol=1e-4)
    except Exception as e: return 'crashed', f'{type(e).__name__}: {e}'
    return 'works', ''

def sweep(names, outcome_of, label:str)->dict:
    "`outcome_of(name)` for each of `names`, a line each as it finishes, then the counts under `label`."
    outcomes = {}
    for name in names:
        outcomes[name] = outcome_of(name)
        print(f'{name:30s} {outcomes[name][0]:8s} {outcomes[name][1][:150]}', flush=True)
    counts = {k: sum(o == k for o, _ in outcomes.values()) for k in OUTCOMES}
    print(f"{label}: {counts['works']} work, {counts['refused']} refused, {counts['crashed']} crashed")
    return outcomes
