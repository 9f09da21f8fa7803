"""Every --output-format on a multi-file project: text, concise, json (against its schema), sarif (against
the SARIF 2.1.0 schema shipped in tests/data), github annotations; and what `apply` prints in each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from gradfix.cli import app
from gradfix.engine import Diagnostic
from gradfix.output import FORMATS, github_line
from gradfix.rules import Severity, all_rules

DATA = Path(__file__).parent / "data"
SCALE = """import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return np.tanh(inputs) * 2.0
"""
GATE = """import tensorflow as tf


class Gate(tf.keras.layers.Layer):
    def call(self, inputs):
        scale = float(inputs)
        return inputs.numpy() * scale
"""
FROZEN = """import tensorflow as tf

base = tf.keras.applications.MobileNetV2(include_top=False, weights=None)
base.trainable = False
"""
TEXT_LINE = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<code>GF\d{3}) (?P<fixable>\[\*\] )?(?P<message>.+)$")

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def project(in_tmp):
    (in_tmp / "models").mkdir()
    (in_tmp / "models" / "scale.py").write_text(SCALE)
    (in_tmp / "models" / "gate.py").write_text(GATE)
    return in_tmp


def check(output_format: str, *paths):
    result = invoke("check", "--output-format", output_format, *(paths or ("models",)))
    assert result.exit_code == (1 if paths != ("clean",) else 0), result.output
    return result.stdout


def parsed(line: str) -> tuple:
    """(path, line, col, code, fixable, first word of the message) of a text line; rules word the rest."""
    match = TEXT_LINE.match(line)
    assert match, line
    return (match["path"], int(match["line"]), int(match["col"]), match["code"], bool(match["fixable"]),
            match["message"].split()[0])


def test_text_names_every_finding_and_marks_fixable_ones(project):
    lines = check("text").splitlines()
    assert list(map(parsed, lines[:3])) == [
        ("models/gate.py", 6, 17, "GF102", False, "`float()`"),
        ("models/gate.py", 7, 16, "GF102", True, "`.numpy()`"),
        ("models/scale.py", 7, 16, "GF101", True, "np.tanh()"),
    ]
    assert lines[3:] == ["Found 3 findings.", "[*] 2 fixable with `gradfix apply`."]


def test_concise_is_one_line_per_finding(project):
    lines = check("concise").splitlines()
    assert len(lines) == 3
    assert all(TEXT_LINE.match(line) and "[*]" not in line for line in lines)


def test_json_follows_its_documented_schema(project):
    findings = json.loads(check("json"))
    jsonschema.validate(findings, json.loads((DATA / "gradfix-findings.schema.json").read_text()))
    assert [(f["filename"], f["code"], f["location"]["row"]) for f in findings] == [
        ("models/gate.py", "GF102", 6), ("models/gate.py", "GF102", 7), ("models/scale.py", "GF101", 7)]
    unfixable, numpy_call, tanh = findings
    assert {f["severity"] for f in findings} == {"error"}
    assert unfixable["fix"] is None
    assert numpy_call["fix"]["applicability"] == "safe" and numpy_call["fix"]["applied"] is False
    assert _apply_edits(GATE, numpy_call["fix"]["edits"]) == GATE.replace("inputs.numpy()", "inputs")
    assert tanh["cell"] is None and tanh["end_location"] == {"row": 7, "column": 31}


def test_readme_documents_every_json_key():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## Output formats", 1)[1].split("\n## ", 1)[0]
    schema = json.loads((DATA / "gradfix-findings.schema.json").read_text())
    keys = set(schema["items"]["properties"]) | {"applicability", "applied", "edits", "content", "row", "column"}
    assert not [key for key in keys if f"`{key}`" not in section]


def _apply_edits(text: str, edits: list[dict]) -> str:
    """Apply json-format edits (1-based rows/columns, end exclusive) the way an editor would."""
    lines = text.splitlines(keepends=True)

    def offset(position: dict) -> int:
        return sum(map(len, lines[:position["row"] - 1])) + position["column"] - 1

    for edit in sorted(edits, key=lambda e: (e["location"]["row"], e["location"]["column"]), reverse=True):
        text = text[:offset(edit["location"])] + edit["content"] + text[offset(edit["end_location"]):]
    return text


def test_sarif_is_valid_and_carries_rules_and_fixes(project):
    log = json.loads(check("sarif"))
    jsonschema.validate(log, json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(all_rules())
    assert all(r["help"]["markdown"] and r["shortDescription"]["text"] for r in rules)
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results] == [
        ("GF102", "models/gate.py"), ("GF102", "models/gate.py"), ("GF101", "models/scale.py")]
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in results)
    assert "fixes" not in results[0], "a finding without a fix offers none"
    change = results[2]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert change["insertedContent"]["text"] == "tf.math.tanh(inputs)"
    assert change["deletedRegion"] == {"startLine": 7, "startColumn": 16, "endLine": 7, "endColumn": 31}
    assert results[2]["locations"][0]["physicalLocation"]["region"] == change["deletedRegion"]


def test_github_annotations(project):
    lines = check("github").splitlines()
    assert lines[0].startswith("::error title=gradfix (GF102),file=models/gate.py,line=6,col=17,endLine=6,"
                               "endColumn=30::models/gate.py:6:17: GF102 `float()`")
    assert len(lines) == 3


def test_github_escapes_workflow_command_syntax():
    finding = Diagnostic(path="odd,name:x.py", code="GF101", message="50% of\nit", severity=Severity.ERROR,
                         line=1, col=2, end_line=1, end_col=3)
    assert github_line(finding) == ("::error title=gradfix (GF101),file=odd%2Cname%3Ax.py,line=1,col=2,endLine=1,"
                                    "endColumn=3::odd,name:x.py:1:2: GF101 50%25 of%0Ait")


def test_info_findings_are_shown_but_pass_check(in_tmp):
    """GF302 (a deliberate freeze is the fine-tuning idiom) is info: listed, `note`/`notice`, exit 0."""
    (in_tmp / "finetune.py").write_text(FROZEN)
    outputs = {}
    for output_format in ("text", "json", "sarif", "github"):
        result = invoke("check", "--output-format", output_format, "finetune.py")
        assert result.exit_code == 0, result.output
        outputs[output_format] = result.stdout
    assert "finetune.py:4:1: GF302" in outputs["text"]
    assert [(f["code"], f["severity"]) for f in json.loads(outputs["json"])] == [("GF302", "info")]
    run = json.loads(outputs["sarif"])["runs"][0]
    jsonschema.validate(json.loads(outputs["sarif"]), json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))
    assert [r["level"] for r in run["results"]] == ["note"]
    levels = {r["id"]: r["defaultConfiguration"]["level"] for r in run["tool"]["driver"]["rules"]}
    assert levels["GF302"] == "note" and levels["GF101"] == "error"
    assert outputs["github"].startswith("::notice title=gradfix (GF302)")
    (in_tmp / "scale.py").write_text(SCALE)
    assert invoke("check", "finetune.py", "scale.py").exit_code == 1, "an error among info findings fails"


def test_github_annotation_command_follows_severity():
    finding = Diagnostic(path="a.py", code="GF301", message="m", severity=Severity.WARNING, line=1, col=1,
                         end_line=1, end_col=2)
    assert github_line(finding).startswith("::warning ")


@pytest.mark.parametrize("output_format", FORMATS)
def test_no_files_is_a_clean_run_in_every_format(in_tmp, output_format):
    """pre-commit may pass no file at all: exit 0, and machine formats still print a valid document."""
    result = invoke("check", "--output-format", output_format)
    assert result.exit_code == 0, result.output
    if output_format == "json":
        assert json.loads(result.stdout) == []
    if output_format == "sarif":
        assert json.loads(result.stdout)["runs"][0]["results"] == []


@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_apply_reports_what_remains_as_a_document_on_stderr(project, output_format):
    result = invoke("apply", "--output-format", output_format, "models")
    assert result.exit_code == 0, result.output
    remaining = json.loads(result.stderr)
    if output_format == "sarif":
        remaining = remaining["runs"][0]["results"]
    assert [f.get("code") or f.get("ruleId") for f in remaining] == ["GF102"], "only the unfixable float() is left"
    assert (project / "models" / "scale.py").read_text() == SCALE.replace("np.tanh(inputs)", "tf.math.tanh(inputs)")


def test_apply_text_lists_what_remains_and_a_summary(project):
    result = invoke("apply", "--dry-run", "models")
    remaining, summary = result.stderr.splitlines()
    assert parsed(remaining) == ("models/gate.py", 6, 17, "GF102", False, "`float()`")
    assert summary == "Would fix 2 findings in 2 files; 1 remaining."


def test_notebook_findings_in_every_format(project):
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": SCALE}
    (project / "models" / "explore.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                                   "nbformat_minor": 5}))
    notebook = "models/explore.ipynb"
    assert f"{notebook}:cell 1:line 7:col 16: GF101 [*] np.tanh()" in check("text")
    assert [f["cell"] for f in json.loads(check("json")) if f["filename"] == notebook] == [1]
    log = json.loads(check("sarif"))
    jsonschema.validate(log, json.loads((DATA / "sarif-schema-2.1.0.json").read_text()))
    result = next(r for r in log["runs"][0]["results"]
                  if r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == notebook)
    assert "region" not in result["locations"][0]["physicalLocation"] and "fixes" not in result
    assert result["properties"] == {"cell": 1, "cellLine": 7, "cellColumn": 16}
    assert result["message"]["text"].startswith("cell 1, line 7: ")
    annotation = next(line for line in check("github").splitlines() if notebook in line)
    assert annotation.startswith(f"::error title=gradfix (GF101),file={notebook}::{notebook}:cell 1:line 7:col 16: ")
