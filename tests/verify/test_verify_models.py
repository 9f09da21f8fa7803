"""Broken and fixed versions of eight models, each verified under Keras 3 and under tf_keras: the exit code and
the variables named as not training."""

from __future__ import annotations

import textwrap

import pytest

pytestmark = pytest.mark.tf

HEAD = ["net/head/bias", "net/head/kernel"]
HIDDEN = ["net/hidden/bias", "net/hidden/kernel"]
ENCODER = ["net/encoder/dense/bias", "net/encoder/dense/kernel"]

# case -> Keras -> (exit code, variables that will not train, a piece of the error or None)
BROKEN = {
    "numpy_in_call": {"3": (1, ["net/proj/b", "net/proj/w"], "No gradients provided for any variable"),
                      "2": (1, ["net/proj/w"], None)},  # tf_keras: ndarray + variable is a TF op, `b` trains
    "bare_variable": {"3": (1, ["model.scale.w"], None),  # untracked: named by where it lives
                      "2": (0, [], None)},  # tf_keras tracks bare tf.Variable attributes
    "trainable_variables_override": {"3": (1, HEAD, None), "2": (1, HEAD, None)},
    "predict_in_tape": {"3": (1, HEAD + HIDDEN, "No gradients provided for any variable"),
                        "2": (2, [], "predict_in_tape_broken.py:12: LookupError: No gradient defined for "
                                     "operation'IteratorGetNext'")},  # tf_keras refuses predict inside a tape
    "numpy_loss": {"3": (1, HEAD, "No gradients provided"),
                   "2": (1, ["head/bias", "head/kernel"], "No gradients provided")},  # no model name in tf_keras
    "frozen_submodel": {"3": (1, ENCODER, None), "2": (1, ENCODER, None)},
    "plain_holder": {"3": (1, ["model.projection.w"], None), "2": (1, ["model.projection.w"], None)},
    "round_on_path": {"3": (1, HIDDEN, None), "2": (1, HIDDEN, None)},
}
FROZEN_WHEN_FIXED = {"frozen_submodel": sorted(ENCODER)}
# `fit` takes the gradient inside tf.function: the None is recorded when the train step is traced
NONE_WHILE_TRACING_FIT = {"round_on_path": HIDDEN, "frozen_submodel": ENCODER}


def _verify(gradfix_verify, script, keras: str) -> dict:
    code, _, outcome = gradfix_verify(str(script), "--keras", keras, "--output-format", "json")
    assert code == outcome["exit_code"]
    assert outcome["keras"].startswith("keras 3." if keras == "3" else "tf_keras 2.")
    return outcome


@pytest.mark.parametrize("keras", ["3", "2"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_model(gradfix_verify, verify_models, case, keras):
    expected_code, expected_names, expected_error = BROKEN[case][keras]
    outcome = _verify(gradfix_verify, verify_models / f"{case}_broken.py", keras)
    assert (outcome["exit_code"], outcome["failing_variables"]) == (expected_code, expected_names), outcome["error"]
    if expected_error:
        assert expected_error in outcome["error"]
    else:
        assert outcome["error"] is None
    if case in NONE_WHILE_TRACING_FIT:
        traced = [call for call in outcome["tape_calls"] if call["in_function"]]
        assert [sorted(call["none_variables"]) for call in traced] == [NONE_WHILE_TRACING_FIT[case]]
        fit_line = _line_of(verify_models / f"{case}_broken.py", "model.fit(")
        assert traced[0]["location"].endswith(f"{case}_broken.py:{fit_line}")  # the user's line, not Keras


@pytest.mark.parametrize("keras", ["3", "2"])
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_fixed_model(gradfix_verify, verify_models, case, keras):
    outcome = _verify(gradfix_verify, verify_models / f"{case}_fixed.py", keras)
    assert (outcome["exit_code"], outcome["failing_variables"], outcome["error"]) == (0, [], None)
    variables = [v for model in outcome["models"] for v in model["variables"]]
    frozen = sorted(v["name"] for v in variables if v["frozen"])
    assert frozen == FROZEN_WHEN_FIXED.get(case, [])
    assert all(v["gradient"] == "ok" and v["tracked"] and v["in_trainable_variables"]
               for v in variables if not v["frozen"])


def _line_of(path, text: str) -> int:
    return next(number for number, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_script_importing_tf_keras_itself_is_instrumented_too(gradfix_verify, tmp_path):
    """Under Keras 3 TensorFlow loads keras; tf_keras is patched when the script imports it."""
    script = tmp_path / "direct.py"
    script.write_text(textwrap.dedent("""\
        import numpy as np
        import tensorflow as tf
        import tf_keras

        class NumpyDense(tf_keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 1), name="w")

            def call(self, inputs):
                return np.dot(inputs, self.w)

        tf_keras.Sequential([NumpyDense(name="proj")])(np.ones((4, 3), "float32"))
        """), encoding="utf-8")
    outcome = _verify(gradfix_verify, script, "3")
    assert ", tf_keras 2." in outcome["keras"]
    assert (outcome["exit_code"], outcome["failing_variables"]) == (1, ["proj/w"])
    assert "NotImplementedError" in outcome["models"][0]["graph_error"]
