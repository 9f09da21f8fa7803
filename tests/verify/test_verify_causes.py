"""Why a weight gets no gradient, on real models: transformers' BERT (tiny config, random weights), a keras.io-style
VQ-VAE, a Lambda closing over a variable, a script asking for a tensor's gradient, a `fit` with a numpy loss.
Every output is validated against the documented JSON schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.tf

SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "data" / "gradfix-verify.schema.json").read_text())
POOLER = ["classifier/encoder/bert/pooler/dense/kernel", "classifier/encoder/bert/pooler/dense/bias"]


@pytest.fixture(scope="module")
def verify(gradfix_verify, verify_models):
    """`verify(script, keras)` → (exit code, outcome), the outcome checked against the schema."""
    import jsonschema

    def run(script: str, keras: str, *options: str):
        code, _, outcome = gradfix_verify(str(verify_models / script), "--keras", keras, "--output-format", "json",
                                          *options)
        jsonschema.validate(outcome, SCHEMA)
        assert code == outcome["exit_code"]
        return code, outcome

    return run


def _rows(outcome: dict) -> dict[str, dict]:
    return {v["name"]: v for model in outcome["models"] for v in model["variables"]}


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


def test_an_encoders_unused_pooler_is_a_warning_not_a_failure(verify, transformers):
    code, outcome = verify("hf_pooler_unused.py", "2")
    rows = _rows(outcome)
    assert (code, outcome["failures"]) == (0, [])
    assert sorted(name for name, row in rows.items() if row["verdict"] == "unused") == sorted(POOLER)
    assert rows[POOLER[0]]["detail"] == "read, but nothing it computes reaches the loss (an output the loss ignores?)"
    assert [w.split(": ")[1] for w in outcome["warnings"]] == POOLER
    head = rows["classifier/dense/kernel"]  # the Keras name, and where the code keeps it
    assert (head["path"], head["verdict"]) == ("model.box_head.kernel", "trains")
    assert head["grad_max"] >= head["grad_mean"] > 0


def test_an_unused_pooler_fails_under_strict(verify, transformers):
    code, outcome = verify("hf_pooler_unused.py", "2", "--strict")
    assert code == 1 and sorted(outcome["failing_variables"]) == sorted(POOLER)


def test_a_numpy_head_cuts_the_head_and_the_encoder_at_its_line(verify, transformers):
    code, outcome = verify("hf_numpy_head.py", "2")
    rows = _rows(outcome)
    assert code == 1
    assert {row["verdict"] for row in rows.values() if row["differentiable"]} == {"cut"}
    cuts = {(row["cut"]["location"], row["cut"]["what"]) for row in rows.values() if row["cut"]}
    assert cuts == {(str(Path("tests/verify_models/hf_numpy_head.py")) + ":15", "np.dot on a tensor")}
    assert rows["classifier/head/kernel"]["cut"]["finding"].startswith(
        "GF101 at tests/verify_models/hf_numpy_head.py:15:16: np.dot() on a tensor in NumpyHead.call")


def test_a_codebook_trained_only_through_add_loss_trains(verify):
    code, outcome = verify("vqvae_codebook.py", "3")
    (model,) = outcome["models"]
    assert (code, _rows(outcome)["quantizer/codebook"]["verdict"]) == (0, "trains")
    assert model["loss"] == ("the compiled loss 'mse' (as `fit` computes it) + model.losses "
                             "(1 add_loss/regularizer term)")
    assert model["inputs"].startswith("random data shaped like the training batch traced at ")


def test_a_tensor_source_without_gradient_fails_naming_the_call(verify):
    code, outcome = verify("tensor_sources.py", "3")
    (call,) = outcome["tape_calls"]
    assert (code, call["none_tensors"], call["none_variables"]) == (1, ["x"], [])
    location = str(Path("tests/verify_models/tensor_sources.py")) + ":9"
    assert call["location"].endswith(location)
    assert outcome["failures"][0].startswith(f"{call['location']}: tape.gradient returned None for x: a tensor")


@pytest.mark.parametrize("keras", ["3", "2"])
def test_a_variable_a_lambda_closes_over_is_untracked(verify, keras):
    code, outcome = verify("lambda_variable.py", keras)
    scale = [row for row in _rows(outcome).values() if row["path"] == "model.layers[1].function→scale"]
    assert (code, [row["verdict"] for row in scale]) == (1, ["untracked"])


def test_a_fit_script_is_judged_on_the_loss_fit_uses_and_names_it(verify):
    code, outcome = verify("numpy_loss_broken.py", "3")
    (model,) = outcome["models"]
    script = str(Path("tests/verify_models/numpy_loss_broken.py"))
    assert model["loss"] == f"the compiled loss `mean_squared_error` ({script}:10) (as `fit` computes it)"
    assert code == 1
    assert {(row["verdict"], row["cut"]["location"], row["cut"]["what"]) for row in model["variables"]} == {
        ("cut", f"{script}:11", "np.square on a tensor")}
    assert model["variables"][0]["cut"]["finding"].startswith(f"GF103 at {script}:11:")
