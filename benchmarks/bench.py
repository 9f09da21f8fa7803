"""How fast is gradfix on a real codebase? Prints one table; asserts nothing.

Every figure comes from the same run, as a fresh process, on the same files (see corpus.py), and is put
next to the floor measured in this run: Python's own `ast.parse` of every file, which gradfix cannot beat
by much since it must at least parse the files that could have a finding. Run it on a quiet machine:
other processes competing for the cores move every figure.

Two corpora: `keras-transformers` (the default: keras 3.15.1 + transformers 4.46.3, where the screen skips
most files) and `tensorflow` (tf-keras 2.21.0 + tf-agents 0.19.0, where nearly every file imports
TensorFlow, so most are parsed and analysed).

    python benchmarks/bench.py [--corpus keras-transformers|tensorflow] [--rounds N] [--no-peer]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

from corpus import PACKAGES, corpus_paths, fetch_packages, python_files
from one_file import compile_bytecode

# the IDE case: a TF model file saved in an editor
ONE_FILE = {"keras-transformers": "transformers/models/bert/modeling_tf_bert.py",
            "tensorflow": "tf_keras-2.21.0/tf_keras/src/engine/training.py"}
TENSORFLOW_PACKAGES = {"tf-keras": "2.21.0", "tf-agents": "0.19.0"}
LABEL_WIDTH = 50
FLOOR_SCRIPT = """
import ast, sys, warnings
warnings.simplefilter("ignore")
for name in open(sys.argv[1], encoding="utf-8").read().splitlines():
    with open(name, "rb") as stream:
        try:
            ast.parse(stream.read())
        except (SyntaxError, ValueError):
            pass
"""


def timed(command: list[str], root: Path) -> tuple[float, str]:
    """Wall-clock seconds of one run of `command` (from the corpus folder `root`), and its stdout."""
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return time.perf_counter() - start, done.stdout


def gradfix_command() -> list[str]:
    script = Path(sys.executable).with_name("gradfix")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradfix"]


def fixit_command() -> list[str] | None:
    script = Path(sys.executable).with_name("fixit")
    return [str(script)] if script.exists() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of the floor and the cold runs, interleaved so that a change of load "
                             "moves both alike; figures are medians (default 1)")
    parser.add_argument("--no-peer", action="store_true", help="skip fixit even when it is installed (slow)")
    parser.add_argument("--corpus", choices=sorted(ONE_FILE), default="keras-transformers",
                        help="keras-transformers (the screen skips most files) or tensorflow (tf-keras + tf-agents: "
                             "nearly every file imports TensorFlow)")
    arguments = parser.parse_args()
    compile_bytecode()  # as an installed gradfix has it (see one_file.py)
    if arguments.corpus == "tensorflow":
        folders = fetch_packages(TENSORFLOW_PACKAGES)
        packages = TENSORFLOW_PACKAGES
    else:
        folders, packages = corpus_paths(), PACKAGES
    root = folders[0].parent
    files = python_files(folders)
    names = [str(f.relative_to(root)) for f in folders]
    gradfix = gradfix_command()
    shutil.rmtree(root / ".gradfix", ignore_errors=True)
    corpus = ", ".join(f"{name} {version}" for name, version in packages.items())
    timed_here = partial(timed, root=root)
    print(f"corpus: {len(files)} files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB ({corpus}); "
          f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f} at the start")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as listing:
        listing.write("\n".join(map(str, files)))

    commands = {"floor": [sys.executable, "-c", FLOOR_SCRIPT, listing.name],
                "cold": [*gradfix, "check", "--jobs", "1", "--no-cache", *names],
                "parallel": [*gradfix, "check", "--jobs", "2", "--no-cache", *names]}
    samples: dict[str, list[float]] = {name: [] for name in commands}
    outputs: dict[str, str] = {}
    for _ in range(arguments.rounds):
        for name, command in commands.items():
            seconds, outputs[name] = timed_here(command)
            samples[name].append(seconds)
    os.unlink(listing.name)
    floor, cold, parallel = (statistics.median(samples[name]) for name in commands)
    filling, filled_output = timed_here([*gradfix, "check", "--jobs", "1", *names])
    warm_runs = [timed_here([*gradfix, "check", "--jobs", "1", *names]) for _ in range(3)]
    warm = statistics.median(seconds for seconds, _ in warm_runs)
    one_file_name = ONE_FILE[arguments.corpus]
    one_file = [timed_here([*gradfix, "check", "--no-cache", one_file_name])[0] for _ in range(7)]

    row = Row(floor)
    row("Python ast.parse of every file (the floor)", floor)
    row("gradfix check --jobs 1 --no-cache (cold)", cold, "≤ 2× floor", cold <= 2 * floor)
    row("gradfix check --jobs 2 --no-cache", parallel, note=_same(outputs["parallel"], outputs["cold"]))
    row("gradfix check --jobs 1, empty cache (fills it)", filling, note=_same(filled_output, outputs["cold"]))
    row("gradfix check, warm cache (unchanged tree)", warm, "≤ 0.25× floor", warm <= 0.25 * floor,
        _same(warm_runs[-1][1], outputs["cold"]) + ", median of 3")
    row(f"gradfix check --no-cache {Path(one_file_name).name} (IDE)", statistics.median(one_file), "< 0.5 s",
        statistics.median(one_file) < 0.5, f"median of 7, fastest {min(one_file):.2f} s")
    fixit = fixit_command()
    if fixit and not arguments.no_peer:
        row("fixit lint (peer; its own parallelism)", timed_here([*fixit, "lint", *names])[0])
    elif not fixit:
        print("fixit is not installed: no peer figure (pip install fixit)")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


class Row:
    """Prints one measurement with its ratio to the floor (the header comes with the first row)."""

    def __init__(self, floor: float):
        self.floor = floor
        print(f"{'measurement':{LABEL_WIDTH}}  {'seconds':>8}  {'× floor':>7}  {'target':20}  note")
        print("-" * (LABEL_WIDTH + 70))

    def __call__(self, label: str, seconds: float, target: str = "", met: bool | None = None, note: str = ""):
        verdict = "" if met is None else ("met" if met else "MISSED")
        target = f"{target} {verdict}".strip()
        print(f"{label:{LABEL_WIDTH}}  {seconds:8.2f}  {seconds / self.floor:7.2f}  {target:20}  {note}".rstrip(),
              flush=True)


def _same(output: str, reference: str) -> str:
    return "same findings as cold" if output == reference else "FINDINGS DIFFER from the cold run"


if __name__ == "__main__":
    main()
