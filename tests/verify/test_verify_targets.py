"""Targets that cannot run: a crash, a hang, a bad import, a script with no model, a bad TARGET. None of these
scripts imports TensorFlow, so the child fails fast."""

from __future__ import annotations

import os
import textwrap
import time

import pytest


def _script(tmp_path, text: str, name: str = "script.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_a_crashing_script_exits_2_with_its_error_line(gradfix_verify, tmp_path):
    script = _script(tmp_path, """\
        print("loading data")
        raise RuntimeError("data/train.csv is missing")
        """)
    code, stdout, outcome = gradfix_verify(script, "--output-format", "json")
    assert code == 2
    assert outcome["error"] == f"{script}:2: RuntimeError: data/train.csv is missing"
    assert "loading data" in outcome["output"]


def test_a_hanging_script_is_killed_with_its_children_and_exits_2(gradfix_verify, tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = _script(tmp_path, f"""\
        import subprocess, time
        child = subprocess.Popen(["sleep", "60"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        time.sleep(60)
        """)
    started = time.monotonic()
    code, stdout, _ = gradfix_verify(script, "--timeout", "2")
    assert code == 2
    assert time.monotonic() - started < 30
    assert "✗ cannot verify: timed out after 2 s" in stdout
    grandchild = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        for _ in range(50):  # the kill is asynchronous
            os.kill(grandchild, 0)
            time.sleep(0.1)


@pytest.mark.parametrize("body, error", [
    ("import not_a_module_anywhere\n", ":1: ModuleNotFoundError: No module named 'not_a_module_anywhere'"),
    ("import sys\nsys.exit(3)\n", "the script exited with status 3"),
    ("print('no model here')\n", "nothing to verify"),
    ("def broken(:\n", "SyntaxError"),
])
def test_scripts_that_verify_cannot_use_exit_2(gradfix_verify, tmp_path, body, error):
    code, stdout, outcome = gradfix_verify(_script(tmp_path, body), "--output-format", "json")
    assert (code, outcome["exit_code"]) == (2, 2)
    assert error in outcome["error"]


@pytest.mark.parametrize("target, error", [
    ("missing.py", "no such file: missing.py"),
    ("not a target", "TARGET must be script.py, file.py::factory or package.module:factory"),
    ("model.py::", "TARGET must be"),
])
def test_bad_targets_exit_2_without_a_traceback(gradfix_verify, tmp_path, monkeypatch, target, error):
    monkeypatch.chdir(tmp_path)
    code, stdout, _ = gradfix_verify(target)
    assert code == 2
    assert f"✗ cannot verify: {error}" in stdout
    assert "Traceback" not in stdout


def test_unknown_keras_choice_is_a_usage_error(gradfix_verify, tmp_path):
    code, _, _ = gradfix_verify(_script(tmp_path, "pass\n"), "--keras", "4")
    assert code == 2
