"""Run generated cases before and after `gradfix apply`, in one TensorFlow process (tests/test_differential.py).

Usage: python differential_harness.py cases.json  — prints one JSON object per case on stdout:
{"id", "before": outcome, "after": outcome, "traced": outcome, "missing_gradients": [...], "error": str|null}
where an outcome is {"dtype", "shape", "value"} or {"error"}, plus "reference" (the case's compute-dtype
reference run as "before" is) for a case that has one. Values are compared by the test.

A layer case is a module with `class Generated(Layer)`: it is built for the input, its weights are set to the
same random values before and after, and `call` is run eagerly. A loss case is a module with
`generated_loss(y_true, y_pred)`, called with the labels Keras gives it (Keras 3 converts them to float32,
tf_keras passes int labels as they are) and differentiated with respect to `y_pred`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def load(path: str, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs_for(case: dict, salt: int) -> np.ndarray:
    rng = np.random.default_rng(case["seed"] * 7 + salt)
    shape = tuple(case["shape"])
    if case["dtype"] == "int32":
        return rng.integers(0, 5, size=shape).astype(np.int32)
    return rng.normal(size=shape).astype(np.float32)


def outcome(value) -> dict:
    array = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    return {"dtype": str(array.dtype), "shape": list(array.shape), "value": array.astype(np.float64).tolist()}


def attempt(function) -> dict:
    try:
        return outcome(function())
    except Exception as exc:  # the generated code failing is a result, not a harness error
        return {"error": f"{type(exc).__name__}: {_essence(str(exc))}"[:300]}


def _essence(message: str) -> str:
    """The lines of an error that say what went wrong, without Keras' and tf.function's wrapping."""
    noise = ("Exception encountered", "in user code", "File ", "Arguments received", "•", "return ", "Call arguments")
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in message.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(noise))


def missing_gradients(forward, variables) -> list[str]:
    """The variables that get no gradient from the sum of the output (all of them if it cannot run)."""
    try:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.cast(forward(), tf.float32))
        gradients = tape.gradient(total, variables)
    except Exception:
        return [v.name for v in variables]
    return [v.name for v, g in zip(variables, gradients) if g is None]


def layer_instance(path: str, name: str, case: dict, x):
    layer = load(path, name).Generated()
    layer.build(tuple(x.shape))
    layer.built = True
    rng = np.random.default_rng(case["seed"])
    for variable in layer.weights:
        variable.assign(0.5 * rng.standard_normal(tuple(variable.shape)).astype(np.float32))
    return layer


def run_layer(case: dict) -> dict:
    x = tf.constant(inputs_for(case, 0))
    before = layer_instance(case["before"], f"before_{case['id']}", case, x)
    result = {"before": attempt(lambda: before.call(x))}
    if case.get("reference"):
        reference = layer_instance(case["reference"], f"reference_{case['id']}", case, x)
        result["reference"] = attempt(lambda: reference.call(x))
    after = layer_instance(case["after"], f"after_{case['id']}", case, x)
    result["after"] = attempt(lambda: after(x))
    result["traced"] = attempt(lambda: tf.function(lambda t: after(t))(x))
    result["missing_gradients"] = missing_gradients(lambda: after(x), list(after.trainable_weights))
    return result


def run_loss(case: dict) -> dict:
    y_true = tf.constant(inputs_for(case, 1))
    if case["flavour"] != "tf_keras":  # as Keras 3 calls a loss: `Loss.__call__` converts y_true to floatx
        y_true = tf.cast(y_true, tf.float32)
    y_pred = tf.Variable(inputs_for({**case, "dtype": "float32"}, 2), name="y_pred")
    before = load(case["before"], f"before_{case['id']}").generated_loss
    after = load(case["after"], f"after_{case['id']}").generated_loss
    result = {"before": attempt(lambda: before(y_true, y_pred)), "after": attempt(lambda: after(y_true, y_pred))}
    if case.get("reference"):
        reference = load(case["reference"], f"reference_{case['id']}").generated_loss
        result["reference"] = attempt(lambda: reference(y_true, y_pred))
    result["traced"] = attempt(lambda: tf.function(after)(y_true, y_pred))
    result["missing_gradients"] = missing_gradients(lambda: after(y_true, y_pred), [y_pred])
    return result


def main(path: str) -> None:
    for case in json.loads(open(path, encoding="utf-8").read()):
        try:
            result = run_layer(case) if case["kind"] == "layer" else run_loss(case)
            result["error"] = None
        except Exception:
            result = {"error": traceback.format_exc(limit=3)[-600:]}
        print(json.dumps({"id": case["id"], **result}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
