"""The verify logic that needs no TensorFlow: verdicts, digests, the before/after judgement, targets, messages."""

from __future__ import annotations

import json
import math
import sysconfig
from pathlib import Path

import pytest

from gradfix.verify.frames import describe_exception
from gradfix.verify.change import (Verdict, configured_factory, conventional_factory, decide,
                                   group_changes, is_runnable_script, judge, judge_unsafe)
from gradfix.verify.report import VERDICTS, CutSite, GradientReport, OutputDigest, TapeCall, VariableStatus
from gradfix.verify.runner import VerifyOutcome
from gradfix.verify.targets import Target, TargetError, parse_target


def _variable(name="net/dense/kernel", **flags) -> VariableStatus:
    status = dict(path="model.dense._kernel", name=name, shape=[2, 1], tracked=True, trainable=True, frozen=False,
                  in_trainable_variables=True, gradient="ok")
    return VariableStatus(**{**status, **flags})


def _outcome(*variables, error=None, tape_calls=(), output=None) -> VerifyOutcome:
    report = GradientReport("Net 'net'", list(variables), output=output)
    return VerifyOutcome("model.py", error=error, models=[report], tape_calls=list(tape_calls))


NP_DOT = CutSite("model.py:26", "np.dot on a tensor")


@pytest.mark.parametrize("flags, verdict, detail", [
    ({}, "trains", "trains"),
    ({"gradient": "zero"}, "trains", "trains (zero gradient)"),
    ({"gradient": "none", "read": True, "cut": NP_DOT}, "cut", "cut at model.py:26: np.dot on a tensor"),
    ({"gradient": "none"}, "cut", "gradient is None"),  # whether it was read is not known: not excused
    ({"gradient": "none", "read": False}, "unused",
     "never read by the forward pass: built but never called in `call`?"),
    ({"gradient": "none", "read": True}, "unused",
     "read, but nothing it computes reaches the loss (an output the loss ignores?)"),
    ({"tracked": False, "in_trainable_variables": False}, "untracked",
     "not tracked by Keras: not in model.variables, so neither trained nor saved"),
    ({"in_trainable_variables": False}, "excluded", "missing from trainable_variables (an override leaves it out?)"),
    ({"frozen": True, "in_trainable_variables": False, "gradient": "none"}, "frozen", "frozen (deliberate)"),
    ({"trainable": False, "gradient": "none"}, "not-trainable", "not trained (trainable=False)"),
    ({"differentiable": False, "gradient": "none"}, "not-differentiable", "integer dtype: not differentiable"),
    ({"gradient": "unknown"}, "unknown", "not known: the forward pass failed"),
])
def test_one_verdict_per_variable_from_its_facts(flags, verdict, detail):
    variable = _variable(**flags)
    assert (variable.verdict, variable.detail) == (verdict, detail)
    assert verdict in VERDICTS
    assert variable.problems == ([detail] if verdict in ("cut", "untracked", "excluded") else [])


def test_untracked_variables_are_labelled_by_their_path():
    assert _variable(tracked=False).label == "model.dense._kernel"
    assert _variable().label == "net/dense/kernel"


def test_exit_codes():
    assert _outcome(_variable()).exit_code == 0
    assert _outcome(_variable(gradient="none")).exit_code == 1
    assert _outcome(error="boom").exit_code == 2
    assert _outcome(_variable(gradient="none"), error="ValueError: No gradients provided").exit_code == 1
    cut_call = TapeCall("train.py:9", False, 1, ["net/dense/kernel"], cuts={"net/dense/kernel": NP_DOT})
    assert _outcome(_variable(), tape_calls=[cut_call]).exit_code == 1


def test_unused_variables_warn_and_fail_only_under_strict():
    outcome = _outcome(_variable(), _variable("net/pooler/kernel", gradient="none", read=True))
    assert (outcome.exit_code, outcome.failures, outcome.gradient_counts) == (0, [], (1, 2))
    assert outcome.warnings == ["Net 'net': net/pooler/kernel: read, but nothing it computes reaches the loss "
                                "(an output the loss ignores?)"]
    outcome.strict = True
    assert (outcome.exit_code, outcome.failing_variables) == (1, {"net/pooler/kernel"})


def test_a_none_from_the_scripts_own_tape_becomes_the_variables_verdict():
    """The probe's loss reaches the bias; the script's loss does not: cut where the tape recorded a cut, unused
    where its tape never read it (or nothing cut it)."""
    cut = TapeCall("train.py:9", True, 3, ["net/dense/bias"], calls=3, cuts={"net/dense/bias": NP_DOT})
    outcome = _outcome(_variable(), _variable("net/dense/bias"), tape_calls=[cut])
    assert outcome.gradient_counts == (1, 2)
    assert outcome.failures == ["Net 'net': net/dense/bias: cut at model.py:26: np.dot on a tensor "
                                "(tape.gradient at train.py:9 returned None)"]
    unread = TapeCall("train.py:9", True, 3, ["net/dense/bias"], unread_variables=["net/dense/bias"])
    outcome = _outcome(_variable(), _variable("net/dense/bias"), tape_calls=[unread])
    assert (outcome.exit_code, [v.verdict for v in outcome.variables]) == (0, ["trains", "unused"])


def test_a_tape_whose_loss_depends_on_none_of_its_variables_cuts_them_all():
    """The loss came from logits computed before the tape (GF403): every variable asked for is cut at the call; a
    call that trains some of them leaves the others unused."""
    names = ["net/dense/kernel", "net/dense/bias"]
    blind = TapeCall("train.py:14", False, 2, names, unread_variables=names)
    outcome = _outcome(_variable(), _variable("net/dense/bias"), tape_calls=[blind])
    assert (outcome.exit_code, [v.verdict for v in outcome.variables]) == (1, ["cut", "cut"])
    assert outcome.variables[0].cut == CutSite("train.py:14", "the loss depends on none of the variables asked for "
                                                              "(computed before the tape started, or cut where verify "
                                                              "cannot see)")
    assert VerifyOutcome("train.py", tape_calls=[blind]).failing_variables == set(names)  # no model probed
    partial = TapeCall("train.py:14", False, 3, names, unread_variables=names)
    assert _outcome(_variable(), _variable("net/dense/bias"), tape_calls=[partial]).exit_code == 0


def test_a_none_for_a_tensor_source_fails_with_the_call():
    call = TapeCall("train.py:7", False, 2, [], none_tensors=["x"])
    outcome = VerifyOutcome("train.py", tape_calls=[call])
    assert outcome.exit_code == 1
    assert outcome.failures == ["train.py:7: tape.gradient returned None for x: a tensor gets a gradient only when "
                                "the tape watches it (tape.watch) and the target depends on it"]


def test_a_synthesized_input_that_fails_is_inconclusive_not_a_failure():
    assert GradientReport("m", error="bad input", inputs_synthesized=True).ok
    assert not GradientReport("m", error="bad input").ok
    assert not GradientReport("m", graph_error="NotImplementedError").ok


def test_outcome_round_trips_through_json():
    outcome = _outcome(_variable(), _variable("net/dense/bias", gradient="none", read=True, cut=NP_DOT),
                       tape_calls=[TapeCall("t.py:1", False, 1, ["w"], cuts={"w": NP_DOT})],
                       output=OutputDigest([[1, 2]], [0.5, -1.0]))
    data = outcome.to_dict()
    assert (data["exit_code"], data["failing_variables"]) == (1, ["net/dense/bias", "w"])
    assert data["models"][0]["variables"][1]["verdict"] == "cut"
    assert VerifyOutcome.from_dict("model.py", data) == outcome


def test_the_json_outcome_follows_the_documented_schema():
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parents[1] / "data" / "gradfix-verify.schema.json").read_text())
    outcome = _outcome(_variable(), _variable("net/dense/bias", gradient="none", read=True, cut=NP_DOT),
                       tape_calls=[TapeCall("t.py:1", True, 2, ["w"], none_tensors=["x"], cuts={"w": NP_DOT})],
                       output=OutputDigest([[1, 2]], [0.5, None]))
    jsonschema.validate(json.loads(outcome.to_json()), schema)
    broken = outcome.to_dict()
    broken["models"][0]["variables"][0]["verdict"] = "fine"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_the_readme_documents_the_verify_json_and_every_verdict():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    schema = json.loads((Path(__file__).resolve().parents[1] / "data" / "gradfix-verify.schema.json").read_text())
    assert "tests/data/gradfix-verify.schema.json" in readme
    for key in ("exit_code", "failures", "warnings", "failing_variables", "models", "tape_calls"):
        assert f'"{key}"' in readme, key
    documented = schema["definitions"]["variable"]["properties"]["verdict"]["enum"]
    assert documented == list(VERDICTS)
    assert all(f"`{verdict}`" in readme for verdict in VERDICTS)


def test_digest_differences():
    digest = OutputDigest([[3]], [1.0, None, 2.0])  # None: not finite
    assert digest.max_abs_diff(OutputDigest([[3]], [1.5, None, 2.0])) == 0.5
    assert digest.max_abs_diff(OutputDigest([[3]], [1.0, 0.0, 2.0])) == math.inf
    assert digest.max_abs_diff(OutputDigest([[1, 3]], [1.0, None, 2.0])) == math.inf
    assert digest.max_abs() == 2.0


def test_judge_keeps_a_patch_that_helps():
    before = _outcome(_variable(gradient="none"), output=OutputDigest([[1]], [2.0]))
    after = _outcome(_variable(), output=OutputDigest([[1]], [2.0 + 1e-5]))
    comparison = judge("model.py", before, after)
    assert comparison.verdict is Verdict.IMPROVES
    assert comparison.summary() == "model.py: 0/1 → 1/1 variables get gradients; forward max |Δ| 1e-05"


@pytest.mark.parametrize("before, after", [
    (_outcome(_variable(gradient="none"), error="ValueError: No gradients"), _outcome(_variable(gradient="none"))),
    (_outcome(_variable(), tape_calls=[TapeCall("t.py:9", False, 1, ["net/dense/kernel"])]), _outcome(_variable())),
])
def test_judge_counts_a_crash_or_a_none_gone_as_better(before, after):
    assert judge("train.py", before, after).verdict is Verdict.IMPROVES


def test_a_patch_that_makes_nothing_better_is_ineffective():
    before = _outcome(_variable(), _variable("net/b", gradient="none"), output=OutputDigest([[1]], [2.0]))
    after = _outcome(_variable(), _variable("net/b", gradient="none"), output=OutputDigest([[1]], [2.0]))
    comparison = judge("model.py", before, after)
    assert (comparison.verdict, comparison.reason) == (Verdict.INEFFECTIVE, "ineffective: nothing gets better "
                                                                            "(1/2 → 1/2)")
    change = decide([Path("model.py")], [comparison])
    assert not change.keep
    assert change.lines() == ["model.py: 1/2 → 1/2 variables get gradients; forward max |Δ| 0.0; left unpatched: "
                              "ineffective: nothing gets better (1/2 → 1/2)"]


@pytest.mark.parametrize("after, reason", [
    (_outcome(error="model.py:3: NameError: name 'np' is not defined"),
     "the patched version fails to run: model.py:3: NameError: name 'np' is not defined"),
    (_outcome(_variable(), output=OutputDigest([[1]], [2.5])), "the forward output changed (max |Δ| 0.5 > 0.0002)"),
    (_outcome(_variable(gradient="none"), output=OutputDigest([[1]], [2.0])), "fewer variables train (1 → 0)"),
])
def test_judge_leaves_out_a_patch_that_hurts(after, reason):
    before = _outcome(_variable(), output=OutputDigest([[1]], [2.0]))
    comparison = judge("model.py", before, after)
    assert (comparison.verdict, comparison.reason) == (Verdict.HARMS, reason)
    assert decide([Path("model.py")], [comparison]).lines()[0].endswith(f"; left unpatched: {reason}")


def test_a_patch_is_kept_unverified_when_the_original_did_not_run_either():
    comparison = judge("model.py", _outcome(error="timed out after 300 s"), _outcome(error="timed out"))
    assert comparison.verdict is Verdict.NOT_VERIFIED and comparison.max_abs_diff is None
    change = decide([Path("model.py")], [comparison])
    assert change.keep and not change.proven
    assert change.lines() == ["model.py: not verified: the original does not run either: timed out after 300 s"]


def test_one_change_of_two_files_is_left_out_as_a_whole_naming_the_target_it_harms():
    helps = judge("model.py::make", _outcome(_variable(gradient="none")), _outcome(_variable()))
    harms = judge("train.py", _outcome(_variable()), _outcome(error="train.py:3: NameError: x"))
    change = decide([Path("model.py"), Path("train.py")], [helps, harms])
    assert change.lines() == [
        "model.py + train.py, verified as one change:",
        "  model.py::make: 0/1 → 1/1 variables get gradients; forward not compared",
        "  train.py: 1/1 → 0/0 (did not finish) variables get gradients; forward not compared",
        "  left unpatched: train.py: the patched version fails to run: train.py:3: NameError: x"]
    assert decide([Path("model.py"), Path("train.py")], [helps]).proven


def _weights(*gradients: str, output: float = 2.0) -> VerifyOutcome:
    variables = [_variable(f"net/w{index}", path=f"model.w{index}", gradient=gradient)
                 for index, gradient in enumerate(gradients)]
    return _outcome(*variables, output=OutputDigest([[1]], [output]))


@pytest.mark.parametrize("after, verdict, reason", [
    (_weights("ok", "ok"), Verdict.IMPROVES, "more weights get gradients: Net 'net' model.w1"),
    (_weights("ok", "none"), Verdict.INEFFECTIVE, "no more weights get gradients"),
    (_weights("none", "ok"), Verdict.HARMS, "fewer weights get gradients: Net 'net' model.w0"),
    (_weights("ok", "ok", output=3.0), Verdict.HARMS, "the forward output changed (max |Δ| 1 > 0.0002)"),
    (_outcome(_variable(), _variable()), Verdict.HARMS, "the forward output is not shown to be the same"),
])
def test_unsafe_fixes_need_strictly_more_weights_none_fewer_and_the_same_output(after, verdict, reason):
    comparison = judge_unsafe("net.py::make", _weights("ok", "none"), after)
    assert (comparison.verdict, comparison.reason) == (verdict, reason)


@pytest.mark.parametrize("text, target", [
    ("train.py", Target(script="train.py")),
    ("models/net.py::make", Target(file="models/net.py", factory="make")),
    ("pkg.models:build_model", Target(module="pkg.models", factory="build_model")),
])
def test_parse_target(text, target):
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["train", "net.py::", "net.txt::make", "pkg.mod:", "a b:c"])
def test_parse_target_rejects(text):
    with pytest.raises(TargetError, match="TARGET must be"):
        parse_target(text)


def test_configured_factory_resolves_paths_relative_to_the_config(tmp_path):
    factories = {"models/net.py": "make_model"}
    assert configured_factory(tmp_path / "models" / "net.py", factories, tmp_path) == "make_model"
    assert configured_factory(tmp_path / "models" / "other.py", factories, tmp_path) is None


@pytest.mark.parametrize("source, factory", [
    ("def make():\n    pass\n", "make"),
    ("def build_model(units=4, *, seed=0):\n    pass\ndef make(x):\n    pass\n", "build_model"),
    ("def get_model():\n    pass\ndef create_model():\n    pass\n", "get_model"),
    ("def create_model(*, seed):\n    pass\n", None),  # needs an argument
    ("class Net:\n    def make(self):\n        pass\n", None),  # not at the top level
    ("def make_model():\n    pass\n", None),  # configured, not conventional
])
def test_conventional_factories(source, factory):
    assert conventional_factory(source) == factory


def test_files_that_import_one_another_are_one_change(tmp_path):
    files = {tmp_path / "model.py": "import numpy as np\n",
             tmp_path / "train.py": "from model import make\n",
             tmp_path / "pkg" / "layers.py": "import tensorflow as tf\n",
             tmp_path / "pkg" / "net.py": "from .layers import Dense\n",
             tmp_path / "app.py": "import pkg.net\n",
             tmp_path / "alone.py": "import modelling\n"}
    assert group_changes(files) == [[tmp_path / "model.py", tmp_path / "train.py"],
                                    [tmp_path / "pkg" / "layers.py", tmp_path / "pkg" / "net.py", tmp_path / "app.py"],
                                    [tmp_path / "alone.py"]]


@pytest.mark.parametrize("source, runnable", [
    ('"""Layers."""\nimport tensorflow as tf\nUNITS = 4\nclass Net: pass\ndef make(): pass\n', False),
    ("import tensorflow as tf\nif __name__ == '__main__':\n    main()\n", True),
    ("import tensorflow as tf\nmodel = build()\n", True),
    ("model.fit(x, y)\n", True),
    ("def broken(:\n", False),
])
def test_is_runnable_script(source, runnable):
    assert is_runnable_script(source) is runnable


def test_describe_exception_finds_the_user_line_inside_autograph_messages():
    keras_file = f"{sysconfig.get_paths()['purelib']}/keras/src/layers/layer.py"
    message = ('in user code:\n\n    File "/work/app/model.py", line 12, in call  *\n        return np.dot(x, w)\n'
               f'    File "{keras_file}", line 9, in error_handler\n\n'
               '    NotImplementedError: Exception encountered when calling Net.call().\n\n'
               '    \x1b[1mCannot convert a symbolic tf.Tensor (x:0) to a numpy array.\x1b[0m\n\n'
               '    Arguments received by Net.call():\n      • x=tf.Tensor(shape=(2, 4))\n')
    assert describe_exception(NotImplementedError(message)) == (
        "/work/app/model.py:12: NotImplementedError: Cannot convert a symbolic tf.Tensor (x:0) to a numpy array.")


def test_describe_exception_points_at_the_raising_user_line():
    try:
        raise ValueError("No gradients provided for any variable.\nmore detail")
    except ValueError as exc:
        line = exc.__traceback__.tb_lineno
        described = describe_exception(exc)
    assert described.endswith(f"test_verify_units.py:{line}: ValueError: No gradients provided for any variable.")


def test_str_of_a_report_is_a_plain_table_that_never_cuts_a_name():
    long_name = "tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel_with_a_very_long_suffix"
    text = str(GradientReport("Net 'net'", [_variable(long_name), _variable("net/dense/bias", gradient="none")],
                              graph_error="model.py:3: NotImplementedError: numpy"))
    assert "variable" in text and "attribute" in text and "\x1b[" not in text and "…" not in text
    assert long_name in "".join(line.split()[0] for line in text.splitlines()[5:8])  # folded, whole
    assert "✗ cut: gradient is None" in text
    assert "✗ forward pass fails inside tf.function: model.py:3: NotImplementedError: numpy" in text


def test_a_cut_in_a_patched_file_is_explained_from_the_text_it_ran_with(tmp_path):
    from gradfix.verify.explain import explain_cuts

    layer = ("import tensorflow as tf\n\n\nclass Scaled(tf.keras.layers.Layer):\n    def call(self, inputs):\n"
             "        return inputs.numpy() * 2\n")
    model = tmp_path / "model.py"
    model.write_text("import tensorflow as tf\n", encoding="utf-8")  # on disk: nothing on line 6
    cut = CutSite("model.py:6", ".numpy() on a tensor")
    explain_cuts(_outcome(_variable(gradient="none", read=True, cut=cut)), tmp_path, {model: layer})
    assert cut.finding is not None and cut.finding.startswith("GF102 at model.py:6:")
    unpatched = CutSite("model.py:6", ".numpy() on a tensor")
    explain_cuts(_outcome(_variable(gradient="none", read=True, cut=unpatched)), tmp_path)
    assert unpatched.finding is None
