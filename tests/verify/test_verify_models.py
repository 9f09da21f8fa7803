"""Broken and fixed versions of eight models, each verified under Keras 3 and under tf_keras: the exit code and
the variables named as not training."""

from __future__ import annotations

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
