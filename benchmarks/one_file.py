"""How long does an editor wait for `gradfix check FILE`? Prints one table; asserts nothing.

Each one-file run is a fresh process, put beside Python's own start-up (`python -c pass`) measured in the
same rounds, interleaved, so a change of load moves both alike. Cases: a clean layer (nothing to report), a
layer whose finding has a fix (`.numpy()`), and the demo model (numpy calls translated to TF). Target: < 0.5 s.

    python benchmarks/one_file.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
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


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def gradfix_command() -> list[str]:
    script = Path(sys.executable).with_name("gradfix")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradfix"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds; figures are medians (default 9)")
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "clean.py").write_text(CLEAN, encoding="utf-8")
        (work / "scale.py").write_text(SCALE, encoding="utf-8")
        (work / "model.py").write_bytes((ROOT / "fixtures" / "demo" / "model.py").read_bytes())
        gradfix = gradfix_command()
        commands = {
            "python -c pass (start-up floor)": [sys.executable, "-c", "pass"],
            "gradfix --version (CLI import)": [*gradfix, "--version"],
            "gradfix check clean.py (no finding)": [*gradfix, "check", "--no-cache", "clean.py"],
            "gradfix check scale.py (a fixable finding)": [*gradfix, "check", "--no-cache", "scale.py"],
            "gradfix check model.py (numpy -> TF fixes)": [*gradfix, "check", "--no-cache", "model.py"],
            "gradfix check --output-format json model.py": [*gradfix, "check", "--no-cache", "--output-format",
                                                             "json", "model.py"],
        }
        samples: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(rounds):
            for label, command in commands.items():
                samples[label].append(timed(command, work))
    floor = statistics.median(samples["python -c pass (start-up floor)"])
    print(f"{rounds} rounds, medians; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print(f"{'run':48}  {'seconds':>7}  {'- floor':>7}  target")
    for label, times in samples.items():
        median = statistics.median(times)
        verdict = "" if label.startswith("python") else \
            f"< {TARGET_SECONDS} s {'met' if median < TARGET_SECONDS else 'MISSED'}"
        print(f"{label:48}  {median:7.3f}  {median - floor:7.3f}  {verdict}")


if __name__ == "__main__":
    main()
