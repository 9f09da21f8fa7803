"""The factory forms of TARGET (`file.py::factory`, `module:factory`) and the JSON output."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.tf


def test_file_factory_untracked_weight_exits_1_naming_it(gradfix_verify, verify_models):
    code, _, outcome = gradfix_verify(f"{verify_models / 'factories.py'}::make_untracked", "--keras", "3",
                                      "--output-format", "json")
    assert (code, outcome["failing_variables"]) == (1, ["model.layers[0].w"])
    (model,) = outcome["models"]
    assert model["inputs"] == "inputs from make_untracked()"
    (untracked,) = [v for v in model["variables"] if not v["tracked"]]
    assert {key: untracked[key] for key in ("path", "name", "shape", "tracked", "trainable", "frozen",
                                            "in_trainable_variables", "gradient", "read_order", "verdict")} == {
        "path": "model.layers[0].w", "name": "net/scale/w", "shape": [4], "tracked": False, "trainable": True,
        "frozen": False, "in_trainable_variables": False, "gradient": "ok", "read_order": 0, "verdict": "untracked"}
    assert untracked["grad_max"] >= untracked["grad_mean"] > 0
    assert outcome["failures"] == ["Sequential 'net': model.layers[0].w: not tracked by Keras: not in "
                                   "model.variables, so neither trained nor saved"]
    assert model["output"]["shapes"] == [[16, 1]] and len(model["output"]["values"]) == 16
    assert set(outcome["timings"]) == {"target", "probe"}


def test_module_factory_with_a_loss_exits_0(gradfix_verify, verify_models, monkeypatch):
    monkeypatch.chdir(verify_models)  # `module:factory` imports from the cwd, as `python -m` would
    code, stdout, _ = gradfix_verify("factories:make_with_loss", "--keras", "3")
    assert code == 0, stdout
    assert "✓ gradients flow: 3/3 variables meant to train get gradients" in stdout
    assert "net/scale/w" in stdout


def test_a_factory_returning_only_a_model_is_probed_on_inputs_shaped_like_its_input_layers(gradfix_verify,
                                                                                           verify_models):
    code, _, outcome = gradfix_verify(f"{verify_models / 'factories.py'}::build_model", "--keras", "3",
                                      "--output-format", "json")
    assert (code, outcome["failing_variables"]) == (1, ["model.layers[0].w"])
    assert outcome["models"][0]["inputs_synthesized"] and outcome["models"][0]["output"]["shapes"] == [[2, 1]]


def test_a_factory_returning_something_else_exits_2(gradfix_verify, verify_models):
    code, _, outcome = gradfix_verify(f"{verify_models / 'factories.py'}::make_nothing", "--output-format", "json")
    assert code == 2
    assert ("make_nothing() must return (model, inputs) or (model, inputs, loss_fn), or a model whose inputs are "
            "declared (keras.Input), not str") in outcome["error"]
