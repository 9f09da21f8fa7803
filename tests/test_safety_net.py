"""The safety net: a rewritten file is written only if it parses, a second pass of the rules changes nothing,
nothing outside the rewritten code changed and it can be encoded as the file was; otherwise the file is
left alone and the failure is reported as an internal error naming the rule. And writes are atomic: a
`kill -9` at any moment of `apply` leaves every file either as it was or as it should become."""

from __future__ import annotations

import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

import gradfix.patch
from gradfix.cli import app
from gradfix.config import Config
from gradfix.rules import FixSafety, Rule, all_rules
from gradfix.runner import RunOptions, run
from gradfix.source import Edit

USES_BOOM = "import tensorflow as tf\n\n\ndef f(x):\n    return boom(x)\n"


def make_rule(code: str, edits):
    """A rule that reports every `boom(...)` call and fixes it with `edits(analysis, call)`."""

    class Boom(Rule):
        name = "boom"
        summary = explanation = "test rule"
        fix_safety = FixSafety.SAFE
        severity = "error"
        triggers = ("boom(",)

        def check(self, analysis):
            for node in ast.walk(analysis.tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "boom":
                    yield self.finding(node, "boom() called", self.fix(*edits(analysis, node)))

    Boom.code = code
    Rule.registry[code] = Boom
    return Boom


def crash(analysis, call):
    raise KeyError("no such thing")


BROKEN = {
    "GF991": ("a fix produced invalid code", lambda a, call: [a.replace(call, "boom(x")]),
    "GF992": ("a fix changed line 1, outside the code it was meant to rewrite",
              lambda a, call: [a.replace(call, "x"), Edit(21, 23, "tf2")]),  # `import tensorflow as tf2`
    "GF993": ("fixes did not converge", lambda a, call: [a.replace(call, f"boom({a.segment(call)})")]),
    "GF994": ("cannot be written as iso-8859-1", lambda a, call: [a.replace(call, "x  # → sans boom")]),
    "GF995": ("GF995 failed: KeyError: 'no such thing'", crash),
}


@pytest.fixture(autouse=True)
def test_rules(monkeypatch):
    """The broken rules and one that works, registered for this test only."""
    monkeypatch.setattr(Rule, "registry", dict(all_rules()))
    for code, (_, edits) in BROKEN.items():
        make_rule(code, edits)
    make_rule("GF990", lambda a, call: [a.replace(call, a.segment(call.args[0]))])


def apply_in_memory(tmp_path, code: str, text: str = USES_BOOM, encoding: str = "utf-8"):
    path = tmp_path / "model.py"
    path.write_bytes(text.encode(encoding))
    report = run([path], RunOptions(select=[code], fix=True, jobs=1), Config())
    return report.results[0]


def test_a_working_fix_passes_the_net(tmp_path):
    result = apply_in_memory(tmp_path, "GF990")
    assert result.error is None
    assert result.fixed.text == USES_BOOM.replace("boom(x)", "x")


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_a_fix_that_fails_the_net_leaves_the_file_alone_and_names_its_rule(tmp_path, code):
    text = USES_BOOM if code != "GF994" else "# -*- coding: latin-1 -*-\n" + USES_BOOM + "# café\n"
    result = apply_in_memory(tmp_path, code, text, "latin-1" if code == "GF994" else "utf-8")
    assert result.fixed is None
    assert result.error.startswith("internal error, file left unchanged: ")
    assert code in result.error
    assert BROKEN[code][0] in result.error


def test_apply_writes_the_good_files_and_reports_the_bad_one_in_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.py").write_text(USES_BOOM, encoding="utf-8")
    (tmp_path / "good.py").write_text(USES_BOOM.replace("def f", "def g"), encoding="utf-8")
    make_rule("GF996", lambda a, call: [a.replace(call, "x")] if "def g" in a.source.text
              else [a.replace(call, "boom(x")])
    result = CliRunner().invoke(app, ["apply", "--select", "GF996", "--no-cache", "."])
    assert result.exit_code == 2
    assert (tmp_path / "bad.py").read_text(encoding="utf-8") == USES_BOOM
    assert (tmp_path / "good.py").read_text(encoding="utf-8") == USES_BOOM.replace("def f", "def g").replace(
        "boom(x)", "x")
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1
    assert errors[0].startswith("bad.py: error: internal error, file left unchanged: GF996: a fix produced invalid "
                                "code: syntax error at line 5")
    assert "Traceback" not in result.output


# --- atomic writes ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "model.py"
    target.write_text("old\n", encoding="utf-8")

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gradfix.patch.os, failing, fail)
    with pytest.raises(OSError):
        gradfix.patch.atomic_write(target, b"new\n")
    assert target.read_text(encoding="utf-8") == "old\n"
    assert os.listdir(tmp_path) == ["model.py"]


FIXABLE_LAYER = """

class Scale{n}(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * {n}
"""


def test_kill_9_during_apply_leaves_every_file_old_or_new(tmp_path):
    """Killed at random moments (and right after the first file is written), every file is byte-equal to its
    original or to its fixed version: never empty, never half-written."""
    old = {f"m{i:03}.py": "import tensorflow as tf\n" + "".join(FIXABLE_LAYER.format(n=n) for n in range(60))
           for i in range(12)}
    work = tmp_path / "work"

    def reset():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        for name, text in old.items():
            (work / name).write_text(text, encoding="utf-8")

    def apply():
        return subprocess.Popen([sys.executable, "-m", "gradfix", "apply", "--no-cache", "--jobs", "1", "."],
                                cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    reset()
    start = time.monotonic()
    assert apply().wait(timeout=300) == 0
    duration = time.monotonic() - start
    new = {name: (work / name).read_text(encoding="utf-8") for name in old}
    assert all(new[name] != old[name] for name in old)

    first = work / min(old)  # files are written in order, after all are analysed: kill near the end
    moments = [("after the first write", None)] + [(f"after {d:.2f}s", d) for d in
                                                      sorted(random.uniform(0.6, 1.0) * duration for _ in range(4))]
    for moment, delay in moments:
        reset()
        process = apply()
        if delay is None:
            while process.poll() is None and first.read_text(encoding="utf-8") == old[first.name]:
                time.sleep(0.001)
        else:
            time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for name in old:
            text = (work / name).read_text(encoding="utf-8")
            assert text in (old[name], new[name]), f"{name} is neither old nor new when killed {moment}"
