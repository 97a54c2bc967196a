"Helpers shared by the tests that run gradaug's commands in subprocesses."
import subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def command(name:str)->list:
    "How to run the console script `name` (gradaug-train, gradaug-eval) of the current environment."
    script = Path(sys.executable).with_name(name)
    entry = {'gradaug-train': 'train_main', 'gradaug-eval': 'eval_main'}[name]
    return [str(script)] if script.exists() else [sys.executable, '-c', f'from gradaug.cli import {entry}; {entry}()']

def run_cli(*args, cwd, prog='gradaug-train', timeout=180):
    "Run a command to completion; the CompletedProcess with text output."
    return subprocess.run(command(prog) + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)

def start_cli(*args, cwd, prog='gradaug-train'):
    "Start a command in the background; the Popen with text pipes."
    return subprocess.Popen(command(prog) + [str(a) for a in args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
