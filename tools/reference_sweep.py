"""What tools/width_curves.py and tools/cam_mass.py share: the seeds of the reference digit models, and a CSV written
group by group with a progress line per group (so a long sweep shows where it is and keeps what it has written)."""
import csv, platform, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT/'nbs'/'_reference_models'

def reference_seeds()->list:
    "The seeds s for which nbs/_reference_models/ holds a baseline-s{s}.pt."
    return sorted({int(path.stem.rsplit('-s', 1)[1]) for path in MODELS.glob('baseline-s*.pt')})

def write_sweep(out:str, # the CSV to write (its folder is made)
                header:tuple, # the CSV's first row
                groups, # iterable of (name, rows): rows are written and flushed, then the name is printed
                threads:int=1 # PyTorch threads the sweep used, for the last line
               ):
    "Write `header` and then each group's rows to `out`, printing each group's name and the seconds so far."
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    with open(out, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for name, rows in groups:
            writer.writerows(rows)
            f.flush()
            print(f'{name}: {time.time() - t0:.0f} s', flush=True)
    print(f'{out} in {time.time() - t0:.0f} s on {platform.machine()}, {threads} thread(s)')
