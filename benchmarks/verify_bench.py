"""How much time `gradfix verify` adds to running the user's own script (goal: under 1 s on a small model).

Measures, as wall time of fresh processes (median of --repeat runs, interleaved so that a busy machine slows
all three alike):
  import      python -c "import tensorflow"      the floor every TensorFlow script pays
  script      python small_model.py              the user's own script, run plainly
  verify      gradfix verify small_model.py      the same script through verify: CLI, child, probe, report
and prints verify − script (the overhead) with the child's own split between running the script and probing.
Prints figures only; asserts nothing.

    python benchmarks/verify_bench.py [--repeat 5] [--keras 3|2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SMALL_MODEL = '''\
import numpy as np
import tensorflow as tf

keras = tf.keras
x = np.random.rand(256, 8).astype("float32")
y = np.random.rand(256, 1).astype("float32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=2, batch_size=32, verbose=0)
print("loss", model.evaluate(x, y, verbose=0))
'''

# `gradfix verify` exactly as the CLI runs it: typer, the verify command, the child and the report
VERIFY_CLI = ("import sys, typer; from gradfix.verify.cli import register; app = typer.Typer(); register(app); "
              "app.callback()(lambda: None); app(sys.argv[1:])")


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    run = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if run.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(command)}\n{run.stdout}\n{run.stderr}")
    return elapsed, run.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keras", choices=("3", "2"), default="3")
    options = parser.parse_args()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_USE_LEGACY_KERAS": "1" if options.keras == "2" else "0",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="gradfix-bench-") as folder:
        cwd = Path(folder)
        (cwd / "small_model.py").write_text(SMALL_MODEL, encoding="utf-8")
        commands = {  # name: (what it is, command)
            "import": ("python -c 'import tensorflow'", [sys.executable, "-c", "import tensorflow"]),
            "script": ("python small_model.py", [sys.executable, "small_model.py"]),
            "verify": ("gradfix verify small_model.py", [sys.executable, "-c", VERIFY_CLI, "verify", "small_model.py",
                                                         "--keras", options.keras, "--output-format", "json"]),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        child_split: list[dict[str, float]] = []
        for _ in range(options.repeat):
            for name, (_, command) in commands.items():
                elapsed, stdout = timed(command, env, cwd)
                times[name].append(elapsed)
                if name == "verify":
                    child_split.append(json.loads(stdout)["timings"])
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"gradfix verify overhead, Keras {options.keras}, median of {options.repeat} runs "
          f"(machine load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    for name, (description, _) in commands.items():
        print(f"  {name:7} {median[name]:6.2f} s   (range {min(times[name]):.2f}–{max(times[name]):.2f} s)   "
              f"{description}")
    print(f"  overhead of verify over the plain script: {median['verify'] - median['script']:+.2f} s "
          f"({median['verify'] / median['script']:.2f}×)")
    in_child = {key: statistics.median(split[key] for split in child_split) for key in child_split[0]}
    print(f"  inside the verify child: running the script {in_child['target']:.2f} s, probing "
          f"{in_child['probe']:.2f} s")


if __name__ == "__main__":
    main()
