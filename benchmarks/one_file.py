"""How long does an editor wait for `gradfix check FILE`? Prints one table; asserts nothing.

Each one-file run is a fresh process, put beside Python's own start-up (`python -c pass`) measured in the
same rounds, interleaved, so a change of load moves both alike. Cases: a clean layer (nothing to report), a
layer whose finding has a fix (`.numpy()`), and the demo model (numpy calls translated to TF). Target: < 0.5 s.

    python benchmarks/one_file.py [--rounds N] [--baseline SOURCE_TREE]

--baseline times the same runs of another gradfix source tree (e.g. `git archive main gradfix codemods`
unpacked in a folder), in the same rounds, so two versions are compared under the same load.

gradfix's modules are compiled to bytecode first, as `pip install` does: with PYTHONDONTWRITEBYTECODE set (as
on the development machine) every run of an editable install would otherwise compile them all again.
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 0.5
CLEAN = """import tensorflow as tf


class Dense(tf.keras.layers.Layer):
    def call(self, inputs):
        return tf.matmul(inputs, self.kernel)
"""
SCALE = """import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2
"""


# The tree's own gradfix, and its rules: `gradfix.codemods` is the tree's codemods/ folder (installed, pyproject.toml
# maps it there; here gradfix's path gets the tree, so the installed copy's rules are not used), or a top-level
# `codemods` package in trees from before that mapping.
BASELINE = ("import sys; sys.path.insert(0, {source!r}); import gradfix; gradfix.__path__.append({source!r}); "
            "sys.argv[0] = 'gradfix'; from gradfix.cli import main; main()")


def timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one run. On a loaded machine the CPU figure is the one
    that still compares: the wall clock then mostly measures the wait for a core."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter() - start, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def compile_bytecode(tree: Path = ROOT) -> None:
    """Write the bytecode of a gradfix source tree, which an installed gradfix has (pip compiles it)."""
    for package in ("gradfix", "codemods"):
        compileall.compile_dir(tree / package, quiet=1)


def gradfix_command() -> list[str]:
    script = Path(sys.executable).with_name("gradfix")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradfix"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds; figures are medians (default 9)")
    parser.add_argument("--baseline", type=Path, help="another gradfix source tree to time beside this one")
    arguments = parser.parse_args()
    rounds = arguments.rounds
    compile_bytecode()
    if arguments.baseline:
        compile_bytecode(arguments.baseline.resolve())
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "clean.py").write_text(CLEAN, encoding="utf-8")
        (work / "scale.py").write_text(SCALE, encoding="utf-8")
        (work / "model.py").write_bytes((ROOT / "fixtures" / "demo" / "model.py").read_bytes())
        commands = {"python -c pass (start-up floor)": [sys.executable, "-c", "pass"]}
        versions = {"": gradfix_command()}
        if arguments.baseline:
            versions["baseline: "] = [sys.executable, "-c", BASELINE.format(source=str(arguments.baseline.resolve()))]
        for prefix, gradfix in versions.items():
            commands.update({
                f"{prefix}gradfix --version (CLI import)": [*gradfix, "--version"],
                f"{prefix}gradfix check clean.py (no finding)": [*gradfix, "check", "--no-cache", "clean.py"],
                f"{prefix}gradfix check scale.py (a fixable finding)": [*gradfix, "check", "--no-cache", "scale.py"],
                f"{prefix}gradfix check model.py (numpy -> TF fixes)": [*gradfix, "check", "--no-cache", "model.py"],
                f"{prefix}gradfix check --output-format json model.py": [*gradfix, "check", "--no-cache",
                                                                          "--output-format", "json", "model.py"],
            })
        samples: dict[str, list[tuple[float, float]]] = {label: [] for label in commands}
        for _ in range(rounds):
            for label, command in commands.items():
                samples[label].append(timed(command, work))
    floor = statistics.median(wall for wall, _ in samples["python -c pass (start-up floor)"])
    print(f"{rounds} rounds, medians; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          "gradfix's bytecode compiled first, as pip does")
    print(f"{'run':58}  {'wall s':>7}  {'- floor':>7}  {'CPU s':>6}  target (wall)")
    for label, times in samples.items():
        wall, cpu = statistics.median(w for w, _ in times), statistics.median(c for _, c in times)
        verdict = "" if label.startswith("python") else \
            f"< {TARGET_SECONDS} s {'met' if wall < TARGET_SECONDS else 'MISSED'}"
        print(f"{label:58}  {wall:7.3f}  {wall - floor:7.3f}  {cpu:6.3f}  {verdict}")


if __name__ == "__main__":
    main()
