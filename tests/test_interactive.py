"""`apply --interactive` driven through stdin, and the progress bar's place (terminal only)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gradfix import interactive
from gradfix.cli import app
from gradfix.config import Config
from gradfix.runner import RunOptions, run

TWO_LAYERS = '''import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return np.tanh(inputs) * 2.0


class Shift(tf.keras.layers.Layer):
    """Far enough from Scale for the two fixes to be two hunks."""

    def offset(self):
        return 1.0

    def call(self, inputs):
        return np.exp(inputs) + self.offset()
'''
FIRST_ONLY = TWO_LAYERS.replace("np.tanh(", "tf.math.tanh(")
SECOND_ONLY = TWO_LAYERS.replace("np.exp(", "tf.math.exp(")

runner = CliRunner()


def invoke(*args, input=None, color=False):
    return runner.invoke(app, [str(a) for a in args], input=input, color=color)


@pytest.fixture
def layers(in_tmp):
    path = in_tmp / "layers.py"
    path.write_text(TWO_LAYERS)
    return path


def test_accepting_one_hunk_of_two(layers):
    result = invoke("apply", "--interactive", layers.name, input="y\nn\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Apply this change?") == 2
    assert "-        return np.tanh(inputs) * 2.0\n+        return tf.math.tanh(inputs) * 2.0" in result.stderr
    assert layers.read_text() == FIRST_ONLY
    assert "layers.py:17:16: GF101" in result.stderr and "Fixed 1 finding in 1 file; 1 remaining." in result.stderr
    assert invoke("undo").exit_code == 0 and layers.read_text() == TWO_LAYERS


def test_rejecting_the_first_and_accepting_the_second(layers):
    assert invoke("apply", "-i", layers.name, input="no\nyes\n").exit_code == 0
    assert layers.read_text() == SECOND_ONLY


@pytest.mark.parametrize("answers", ["q\n", "", "n\nn\n"])
def test_quit_end_of_input_or_rejecting_all_writes_nothing(layers, answers):
    result = invoke("apply", "-i", layers.name, input=answers)
    assert result.exit_code == 0
    assert layers.read_text() == TWO_LAYERS
    assert not (layers.parent / ".gradfix" / "last-apply.json").exists(), "no undo record for a run that wrote nothing"
    assert "Fixed 0 findings in 0 files; 2 remaining." in result.stderr


def test_an_unknown_answer_asks_again(layers):
    result = invoke("apply", "-i", layers.name, input="maybe\ny\nn\n")
    assert result.stderr.count("Apply this change?") == 3
    assert layers.read_text() == FIRST_ONLY


def test_dry_run_prints_only_the_accepted_hunks(layers):
    result = invoke("apply", "-i", "--dry-run", layers.name, input="n\ny\n")
    assert "+        return tf.math.exp(inputs) + self.offset()" in result.stdout
    assert "tanh" not in result.stdout
    assert layers.read_text() == TWO_LAYERS


def test_hunks_are_coloured_only_for_a_terminal(layers):
    assert "\x1b[" not in invoke("apply", "-i", layers.name, input="n\nn\n").stderr
    coloured = invoke("apply", "-i", layers.name, input="n\nn\n", color=True).stderr
    assert "\x1b[31m-        return np.tanh" in coloured and "\x1b[32m+" in coloured


def test_notebook_cells_are_reviewed_one_by_one(in_tmp):
    def cell(source):
        return {"cell_type": "code", "execution_count": 1, "metadata": {},
                "outputs": [{"output_type": "stream", "name": "stdout", "text": ["ok\n"]}], "source": source}

    scale, shift = TWO_LAYERS.split('\n\n\nclass Shift')
    text = json.dumps({"cells": [cell(scale), cell("class Shift" + shift)], "metadata": {}, "nbformat": 4,
                       "nbformat_minor": 5}, indent=1) + "\n"
    path = in_tmp / "layers.ipynb"
    path.write_text(text)
    result = invoke("apply", "-i", path.name, input="n\ny\n")
    assert result.exit_code == 0, result.output
    assert "--- layers.ipynb:cell 1" in result.stderr and "--- layers.ipynb:cell 2" in result.stderr
    assert path.read_text() == text.replace("np.exp(", "tf.math.exp(")


def test_interactive_cannot_read_source_from_stdin(in_tmp):
    result = invoke("apply", "-i", "-", "--stdin-filename", "x.py", input=TWO_LAYERS)
    assert result.exit_code == 2 and "--interactive" in result.stderr


def test_runner_reports_progress_per_processed_file(in_tmp):
    for number in range(3):
        (in_tmp / f"layer{number}.py").write_text(TWO_LAYERS)
    calls = []
    run([in_tmp], RunOptions(jobs=1, progress=lambda done, total: calls.append((done, total))), Config())
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_progress_bar_only_on_a_terminal_and_for_large_runs(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert interactive.terminal_progress() is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = interactive.terminal_progress()
    bar(1, interactive.PROGRESS_THRESHOLD - 1)
    assert bar.bar is None, "small runs get no bar"


def test_large_run_without_a_terminal_is_quiet(in_tmp):
    for number in range(interactive.PROGRESS_THRESHOLD + 5):
        (in_tmp / f"layer{number}.py").write_text(TWO_LAYERS.replace("np.", "tf.math."))
    completed = subprocess.run([sys.executable, "-m", "gradfix", "check", "-j", "1", "."], cwd=in_tmp,
                               capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stderr == "" and completed.stdout == "All checks passed.\n"
