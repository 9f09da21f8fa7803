"""The seed document's first example, broken (numpy line active): after `gradfix apply` it trains, with a
gradient for every weight, under Keras 3 and under tf_keras — and before the fix it does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import FIXTURES, fixed_text

pytestmark = pytest.mark.tf

PROBE = textwrap.dedent("""
    import importlib.util, json, sys
    import tensorflow as tf
    spec = importlib.util.spec_from_file_location("case", sys.argv[1])
    case = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(case)
        model, x = case.make()
        y = tf.random.stateless_normal((x.shape[0], 5), seed=(3, 4))
        optimizer = tf.keras.optimizers.SGD(0.1)
        losses, missing = [], set()
        for _ in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(model(x) - y))
            grads = tape.gradient(loss, model.trainable_variables)
            missing |= {v.name for g, v in zip(grads, model.trainable_variables) if g is None}
            optimizer.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None])
            losses.append(float(loss))
        result = {"variables": len(model.trainable_variables), "missing": sorted(missing), "losses": losses}
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    print("RESULT" + json.dumps(result))
""")


def train(path, keras_version: str) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    if keras_version == "2":
        env["TF_USE_LEGACY_KERAS"] = "1"
    completed = subprocess.run([sys.executable, "-c", PROBE, str(path)], env=env, capture_output=True,
                               text=True, timeout=240)
    line = next((l for l in completed.stdout.splitlines() if l.startswith("RESULT")), None)
    assert line, completed.stderr[-2000:]
    return json.loads(line[len("RESULT"):])


@pytest.mark.parametrize("keras_version", ["3", "2"])
def test_seed_example_trains_after_apply(tmp_path, keras_version):
    broken = FIXTURES / "GF101" / "seed_dense_layer.py"
    fixed = tmp_path / "fixed.py"
    fixed.write_text(fixed_text(broken.read_text()))

    before = train(broken, keras_version)
    assert "error" in before or before["missing"], f"the broken example should not train: {before}"

    after = train(fixed, keras_version)
    assert "error" not in after, after
    assert after["variables"] == 2 and after["missing"] == []
    assert after["losses"][-1] < after["losses"][0]
