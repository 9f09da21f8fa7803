"""Run training fixtures under TensorFlow and report, per script, what its gradients and losses did.

Usage: python run_training_fixtures.py SCRIPT...  (set TF_USE_LEGACY_KERAS=1 beforehand for tf_keras).
Each script defines `train()` returning the loss of every step. Every `GradientTape.gradient` call is
recorded (in eager loops and while `fit` traces its train step alike), so a `None` gradient is seen even
when the script itself would go on. Prints one JSON object: {script: {"none_gradients", "gradient_calls",
"losses", "error"}}, plus "keras": the package that ran, `keras` (Keras 3) or `tf_keras`.
"""

from __future__ import annotations

import contextlib
import json
import runpy
import sys
import traceback

import tensorflow as tf

_original_gradient = tf.GradientTape.gradient
_calls: list[list[bool]] = []


def _recording_gradient(self, target, sources, *args, **kwargs):
    result = _original_gradient(self, target, sources, *args, **kwargs)
    _calls.append([g is None for g in tf.nest.flatten(result, expand_composites=False)])
    return result


def run(script: str) -> dict:
    _calls.clear()
    outcome = {"none_gradients": 0, "gradient_calls": 0, "losses": [], "error": None}
    try:
        namespace = runpy.run_path(script, run_name="training_fixture")
        outcome["losses"] = [float(v) for v in namespace["train"]()]
    except Exception as exc:  # a broken fixture is expected to fail somehow; report how
        outcome["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if "--traceback" in sys.argv:
            traceback.print_exc()
    outcome["gradient_calls"] = len(_calls)
    outcome["none_gradients"] = sum(sum(call) for call in _calls)
    return outcome


def main() -> None:
    tf.GradientTape.gradient = _recording_gradient
    tf.get_logger().setLevel("ERROR")
    scripts = [a for a in sys.argv[1:] if not a.startswith("--")]
    with contextlib.redirect_stdout(sys.stderr):  # the scripts' own prints must not mix with the report
        report = {script: run(script) for script in scripts}
    report["keras"] = tf.keras.Model.__module__.split(".")[0]  # "keras" (Keras 3) or "tf_keras"
    print(json.dumps(report))


if __name__ == "__main__":
    main()
