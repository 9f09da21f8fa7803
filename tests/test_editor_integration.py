"""The editor set-ups documented in the README, checked against real `gradfix` output: the VS Code
problemMatcher and the PyCharm output filter must find every finding, with its file, line and column."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
GATE = """import tensorflow as tf


class Gate(tf.keras.layers.Layer):
    def call(self, inputs):
        scale = float(inputs)
        return inputs.numpy() * scale
"""
# IntelliJ's RegexpFilter macros (Java \\p{Alpha} written for Python's re).
PYCHARM_MACROS = {"$FILE_PATH$": r"((?:[A-Za-z]:)?[0-9 a-z_A-Z\-\\./]+)", "$LINE$": r"([0-9]+)",
                  "$COLUMN$": r"([0-9]+)"}


def documented_block(heading: str, language: str) -> str:
    section = README.split(f"\n### {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", section, re.DOTALL).group(1)


VSCODE_TASKS = json.loads(documented_block("VS Code", "json"))["tasks"]
PYCHARM_TOOLS = ElementTree.fromstring(documented_block("PyCharm", "xml")).findall("tool")


@pytest.fixture
def project(in_tmp):
    (in_tmp / "models").mkdir()
    (in_tmp / "models" / "gate.py").write_text(GATE)
    return in_tmp


def findings(project: Path) -> list[tuple[str, int, int, str, str]]:
    """(path, line, column, code, message) of every finding, from the json output."""
    completed = subprocess.run([sys.executable, "-m", "gradfix", "check", "--output-format", "json", "."],
                               cwd=project, capture_output=True, text=True)
    return [(f["filename"], f["location"]["row"], f["location"]["column"], f["code"], f["message"])
            for f in json.loads(completed.stdout)]


def substitute(value: str, project: Path) -> str:
    return (value.replace("${command:python.interpreterPath}", sys.executable)
            .replace("${workspaceFolder}", str(project)).replace("${file}", str(project / "models" / "gate.py"))
            .replace("$PyInterpreterDirectory$", str(BIN)).replace("$ProjectFileDir$", str(project))
            .replace("$FilePath$", str(project / "models" / "gate.py")))


def output_of(command: list[str], project: Path) -> list[str]:
    completed = subprocess.run(command, cwd=project, capture_output=True, text=True)
    assert completed.returncode in (0, 1), completed.stderr
    return (completed.stdout + completed.stderr).splitlines()


def test_vscode_problem_matcher_reads_real_check_output(project):
    task = next(t for t in VSCODE_TASKS if t["label"] == "gradfix check")
    pattern = task["problemMatcher"]["pattern"]
    matcher = re.compile(pattern["regexp"])
    expected = findings(project)
    for args in (task["args"], [a for a in task["args"] if a not in ("--output-format", "concise")]):
        lines = output_of([substitute(task["command"], project), *args], project)
        matched = [m for m in map(matcher.match, lines) if m]
        assert len(matched) == len(lines) - (0 if "concise" in args else 2), "summary lines are not problems"
        assert [(m.group(pattern["file"]), int(m.group(pattern["line"])), int(m.group(pattern["column"])),
                 m.group(pattern["code"]), m.group(pattern["message"])) for m in matched] == expected


def test_vscode_apply_task_reports_what_remains(project):
    task = next(t for t in VSCODE_TASKS if t["label"] == "gradfix apply (this file)")
    pattern = task["problemMatcher"]["pattern"]
    lines = output_of([substitute(task["command"], project), *(substitute(a, project) for a in task["args"])], project)
    matched = [m for m in map(re.compile(pattern["regexp"]).match, lines) if m]
    assert [(Path(m.group(pattern["file"])), m.group(pattern["line"]), m.group(pattern["code"])) for m in matched] \
        == [(project / "models" / "gate.py", "6", "GF102")], "the unfixable float() is left, with its location"


@pytest.mark.parametrize("tool", PYCHARM_TOOLS, ids=lambda tool: tool.get("name"))
def test_pycharm_output_filter_links_every_finding(project, tool):
    options = {o.get("name"): o.get("value") for o in tool.iter("option")}
    regexp = options["REGEXP"]
    for macro, replacement in PYCHARM_MACROS.items():
        regexp = regexp.replace(macro, replacement)
    command = [substitute(options["COMMAND"], project), *substitute(options["PARAMETERS"], project).split()]
    lines = output_of(command, project)
    links = [m.groups() for m in map(re.compile(regexp).search, lines) if m]
    gate = str(project / "models" / "gate.py")
    wanted = [(gate, "6", "17"), (gate, "7", "16")] if "check" in options["PARAMETERS"] else [(gate, "6", "17")]
    assert links == wanted
