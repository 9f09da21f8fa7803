"""Suppression comments, `[tool.gradfix]` settings, and which wins: the command line over the config."""

from __future__ import annotations

import ast
import json
import textwrap

import pytest
from typer.testing import CliRunner

from conftest import run_on_text
from gradfix.cli import app
from gradfix.rules import FixSafety, Rule

LAYER = """import tensorflow as tf


class Gate(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2.0{comment}
"""
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def codes_found(comment: str) -> list[str]:
    return [d.code for d in run_on_text(LAYER.format(comment=comment), fix=False).diagnostics]


@pytest.mark.parametrize("comment", [
    "  # gradfix: ignore[GF102]",
    "  # gradfix: ignore",
    "  # gradfix: ignore[GF1]",
    "  # gradfix:ignore[GF101, GF102]",
    "  # noqa: GF102",
    "  # noqa:E501,GF102",
    "  # NOQA: gf102 the tensor is a constant here",
    "  # noqa",
])
def test_line_suppressions(comment):
    assert codes_found(comment) == []


@pytest.mark.parametrize("comment", ["", "  # gradfix: ignore[GF101]", "  # noqa: E501", "  # gradfix: ignore[GF2]"])
def test_suppressions_of_other_codes_do_not_hide_a_finding(comment):
    assert codes_found(comment) == ["GF102"]


def test_suppression_on_any_line_of_a_multiline_node():
    text = LAYER.format(comment="").replace("inputs.numpy() * 2.0", "(inputs  # gradfix: ignore[GF102]\n"
                                            "                .numpy()) * 2.0")
    assert [d.code for d in run_on_text(text).diagnostics] == []


def test_skip_file_leaves_the_file_alone():
    report = run_on_text("# gradfix: skip-file\n" + LAYER.format(comment=""))
    assert report.diagnostics == [] and report.results[0].fixed is None


def test_a_suppressed_finding_is_not_fixed():
    report = run_on_text(LAYER.format(comment="  # noqa: GF102"))
    assert report.results[0].fixed is None


def write_project(root, config: str) -> None:
    (root / "pyproject.toml").write_text("[project]\nname = 'demo'\n\n[tool.gradfix]\n" + textwrap.dedent(config))
    for folder in ("src", "tests", "generated"):
        (root / folder).mkdir()
        (root / folder / "layer.py").write_text(LAYER.format(comment=""))


def paths_with_findings(*args) -> set[str]:
    result = invoke("check", "--output-format", "concise", *args)
    assert result.exit_code in (0, 1), result.output
    return {line.split(":")[0] for line in result.stdout.splitlines()}


def test_config_select_ignore_exclude_and_per_file_ignores(in_tmp):
    write_project(in_tmp, """
        exclude = ["generated"]
        per-file-ignores = {"tests/*" = ["GF102"]}
    """)
    assert paths_with_findings(".") == {"src/layer.py"}
    assert paths_with_findings("generated/layer.py") == set(), "exclude holds for files named explicitly (pre-commit)"
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nignore = ['GF1']\n")
    assert paths_with_findings("src") == set()
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nselect = ['GF101']\n")
    assert paths_with_findings("src") == set()


def test_command_line_wins_over_config(in_tmp):
    write_project(in_tmp, 'ignore = ["GF102"]\nselect = ["GF1"]\n')
    assert paths_with_findings("src") == set()
    assert paths_with_findings("src", "--select", "GF102") == {"src/layer.py"}, "--select starts afresh"
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nselect = ['GF102']\n")
    assert paths_with_findings("src", "--ignore", "GF102") == set(), "--ignore adds to the config"


def test_config_is_found_by_walking_up_from_the_files(in_tmp, monkeypatch):
    write_project(in_tmp, 'ignore = ["GF102"]\n')
    (in_tmp / "src" / "pyproject.toml").write_text("[project]\nname = 'no gradfix table: skipped'\n")
    elsewhere = in_tmp / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert paths_with_findings(in_tmp / "src" / "layer.py") == set()


def test_invalid_config_is_a_usage_error(in_tmp):
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nslect = ['GF1']\n")
    (in_tmp / "layer.py").write_text(LAYER.format(comment=""))
    result = invoke("check", "layer.py")
    assert result.exit_code == 2 and "unknown [tool.gradfix] key(s): slect" in result.stderr
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nselect = ['GF999']\n")
    result = invoke("check", "layer.py")
    assert result.exit_code == 2 and "unknown rule code(s): GF999" in result.stderr


def numpy_method_rule(code: str, default: FixSafety, safety_of=lambda operand: None) -> type[Rule]:
    """A test rule: `.numpy()` → the tensor itself, of the default safety unless `safety_of(operand)` says."""

    class NumpyMethod(Rule):
        name = "test-numpy-method"
        summary = explanation = "test only"
        fix_safety = default
        severity = "warning"
        triggers = (".numpy()",)

        def check(self, analysis):
            for scope in analysis.forward_scopes:
                for call in scope.calls():
                    if getattr(call.func, "attr", None) == "numpy":
                        operand = call.func.value
                        fix = self.fix(analysis.replace(call, analysis.operand(operand)), safety=safety_of(operand))
                        yield self.finding(call, "test fix", fix)

    NumpyMethod.code = code
    Rule.registry[code] = NumpyMethod
    return NumpyMethod


@pytest.fixture
def unsafe_rule():
    """A rule whose fix is unsafe (no shipped rule had one when this was written): `.numpy()` → tensor."""
    yield numpy_method_rule("GF999", FixSafety.UNSAFE)
    del Rule.registry["GF999"]


@pytest.mark.parametrize("config, flags, fixed", [
    ("", [], False),
    ("", ["--unsafe-fixes"], True),
    ("unsafe-fixes = true", [], True),
    ("unsafe-fixes = true", ["--no-unsafe-fixes"], False),
])
def test_unsafe_fixes_from_config_and_flags(in_tmp, unsafe_rule, config, flags, fixed):
    (in_tmp / "pyproject.toml").write_text(f"[tool.gradfix]\nselect = ['GF999']\n{config}\n")
    layer = in_tmp / "layer.py"
    layer.write_text(LAYER.format(comment=""))
    assert invoke("apply", "layer.py", *flags).exit_code == 0
    assert ("inputs.numpy()" not in layer.read_text()) is fixed


@pytest.fixture
def mixed_safety_rule():
    """A rule whose fix is safe for one form of its pattern (`name.numpy()`) and unsafe for another."""
    yield numpy_method_rule("GF998", FixSafety.SAFE,
                            lambda operand: None if isinstance(operand, ast.Name) else FixSafety.UNSAFE)
    del Rule.registry["GF998"]


MIXED = """import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() + (inputs * 2).numpy()
"""


@pytest.mark.parametrize("flags, fixed", [([], "inputs + (inputs * 2).numpy()"),
                                          (["--unsafe-fixes"], "inputs + (inputs * 2)")])
def test_safety_is_decided_per_fix(in_tmp, mixed_safety_rule, flags, fixed):
    (in_tmp / "layer.py").write_text(MIXED)
    result = invoke("check", "--select", "GF998", "--output-format", "json", "layer.py")
    findings = json.loads(result.stdout)
    assert [(f["fix"]["applicability"], f["severity"]) for f in findings] == [("safe", "warning"),
                                                                             ("unsafe", "warning")]
    assert invoke("apply", "--select", "GF998", "layer.py", *flags).exit_code == 0
    assert f"return {fixed}\n" in (in_tmp / "layer.py").read_text()
