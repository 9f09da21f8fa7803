"""Bad input never stops a run: each bad file gives one line naming it, every other file is still checked
and fixed, the exit code is 2, there is no traceback and no file is partly written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gradfix.cli
import gradfix.runner
from gradfix.cli import app

GOOD = """import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2
"""
GOOD_FIXED = GOOD.replace("inputs.numpy()", "inputs")
KERAS_HEADER = "import numpy as np\nimport tensorflow as tf\n\n\n"
MAX_FILE_SIZE = 20_000
AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def unreadable(path: Path, monkeypatch) -> None:
    """Make `path` unreadable: by its mode, or (root reads anything) by refusing to open or list it."""
    path.chmod(0)
    if not AS_ROOT:
        return
    real_open, real_scandir = os.open, os.scandir

    def refuse(opened, *args, **kwargs):
        if Path(opened).absolute() == path:
            raise PermissionError(13, "Permission denied", str(opened))
        return real_open(opened, *args, **kwargs)

    def refuse_listing(listed=".", *args):
        if Path(listed).absolute() == path:
            raise PermissionError(13, "Permission denied", str(listed))
        return real_scandir(listed, *args)

    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(os, "scandir", refuse_listing)


def write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def symlink_loop(folder: Path, monkeypatch) -> Path:
    path = folder / "loop.py"
    path.symlink_to(path.name)
    return path


def fifo(folder: Path, monkeypatch) -> Path:
    path = folder / "pipe.py"
    os.mkfifo(path)
    return path


def unreadable_file(folder: Path, monkeypatch) -> Path:
    path = write(folder, "secret.py", GOOD.encode())
    unreadable(path, monkeypatch)
    return path


def unreadable_folder(folder: Path, monkeypatch) -> Path:
    path = folder / "locked"
    path.mkdir()
    write(path, "inside.py", GOOD.encode())
    unreadable(path, monkeypatch)
    return path


# name -> (make the bad file, the reason in its one line, or None when it is no error at all)
CASES = {
    # a file the screen passes (it may define a layer): one that cannot have a finding is never parsed
    "syntax error": (lambda f, m: write(f, "broken.py", (KERAS_HEADER + "class Broken(tf.keras.layers.Layer):\n"
                                                        "    def call(self, x)\n        return x\n").encode()),
                     "syntax error at line 6"),
    "undecodable bytes": (lambda f, m: write(f, "latin.py", KERAS_HEADER.encode() + b"name = 'caf\xe9'\n"),
                          "cannot decode as utf-8"),
    "bad coding cookie": (lambda f, m: write(f, "cookie.py", b"# -*- coding: klingon -*-\nimport keras\n"),
                          "bad encoding declaration"),
    "NUL bytes": (lambda f, m: write(f, "binary.py", KERAS_HEADER.encode() + b"\x00\x01\x02"), "NUL byte"),
    "huge file": (lambda f, m: write(f, "huge.py", (KERAS_HEADER + "x = 1\n" * MAX_FILE_SIZE).encode()),
                  f"over the max-file-size of {MAX_FILE_SIZE}"),
    "deep nesting": (lambda f, m: write(f, "deep.py", (KERAS_HEADER + "class Deep(tf.keras.layers.Layer):\n"
                                                       "    x = " + "(" * 5000 + ")" * 5000).encode()),
                     "too many nested parentheses"),
    "symlink loop": (symlink_loop, "symlink loop"),
    "FIFO named .py": (fifo, "not a regular file"),
    "unreadable file": (unreadable_file, "Permission denied"),
    "unreadable folder": (unreadable_folder, "Permission denied"),
    "empty file": (lambda f, m: write(f, "empty.py", b""), None),
    "only a BOM": (lambda f, m: write(f, "bom.py", b"\xef\xbb\xbf"), None),
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(f"[tool.gradfix]\nmax-file-size = {MAX_FILE_SIZE}\n", encoding="utf-8")
    source = tmp_path / "src"
    source.mkdir()
    write(source, "good.py", GOOD.encode())
    monkeypatch.chdir(tmp_path)
    return source


def invoke(*args):
    return CliRunner().invoke(app, [*map(str, args), "--no-cache"])


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": error: " in line]


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()
            and os.access(p, os.R_OK) and p.stat().st_mode & 0o444 and p.name != "pipe.py"}


@pytest.mark.parametrize("case", list(CASES))
def test_check_reports_one_line_per_bad_file_and_goes_on(project, monkeypatch, case):
    make, reason = CASES[case]
    bad = make(project, monkeypatch)
    result = invoke("check", "src")
    assert "src/good.py:7:16: GF102" in result.stdout, "the good file is still checked"
    assert "Traceback" not in result.output
    if reason is None:
        assert error_lines(result) == [] and result.exit_code == 1
        return
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert line.startswith(f"{bad.relative_to(project.parent)}: error: ") and reason in line, line


@pytest.mark.parametrize("case", list(CASES))
def test_apply_fixes_the_good_files_and_leaves_the_bad_one_alone(project, monkeypatch, case):
    make, reason = CASES[case]
    bad = make(project, monkeypatch)
    before = snapshot(project)
    result = invoke("apply", "src")
    assert (project / "good.py").read_text(encoding="utf-8") == GOOD_FIXED
    assert {p: data for p, data in snapshot(project).items() if p.name != "good.py"} == \
        {p: data for p, data in before.items() if p.name != "good.py"}
    assert "Traceback" not in result.output
    assert result.exit_code == (0 if reason is None else 2)
    assert len(error_lines(result)) == (0 if reason is None else 1)
    assert bad.is_symlink() or bad.exists()


def test_a_file_deleted_after_it_was_found_is_one_line(project, monkeypatch):
    write(project, "gone.py", GOOD.encode())
    real = gradfix.runner.discover

    def discover_then_delete(*args):
        found = real(*args)
        (project / "gone.py").unlink()
        return found

    monkeypatch.setattr(gradfix.runner, "discover", discover_then_delete)
    result = invoke("check", "src")
    assert result.exit_code == 2
    assert error_lines(result) == ["src/gone.py: error: no such file (deleted while running?)"]
    assert "src/good.py:7:16: GF102" in result.stdout


@pytest.mark.parametrize("meanwhile", ["deleted", "edited"])
def test_apply_never_writes_a_file_deleted_or_edited_while_it_ran(project, monkeypatch, meanwhile):
    other = write(project, "other.py", GOOD.encode())
    real = gradfix.runner.run

    def run_then_touch(*args, **kwargs):
        report = real(*args, **kwargs)
        if meanwhile == "deleted":
            other.unlink()
        else:
            other.write_text(GOOD + "# saved in the editor meanwhile\n", encoding="utf-8")
        return report

    monkeypatch.setattr(gradfix.runner, "run", run_then_touch)
    result = invoke("apply", "src")
    assert result.exit_code == 2
    (line,) = error_lines(result)
    assert line.startswith("src/other.py: error: not written: ")
    assert (project / "good.py").read_text(encoding="utf-8") == GOOD_FIXED
    if meanwhile == "edited":
        assert other.read_text(encoding="utf-8").endswith("# saved in the editor meanwhile\n")
    assert "Traceback" not in result.output


def test_a_path_that_does_not_exist_is_one_line(project):
    result = invoke("check", "src", "missing.py")
    assert result.exit_code == 2
    assert error_lines(result) == ["missing.py: error: no such file or folder"]


def test_all_at_once_in_a_real_process(project, monkeypatch):
    """The same, as a user runs it: one process, many bad files, in worker processes or not."""
    for case in ("syntax error", "undecodable bytes", "NUL bytes", "huge file", "symlink loop", "FIFO named .py",
                 "empty file"):
        CASES[case][0](project, monkeypatch)
    for jobs in ("1", "2"):
        done = subprocess.run([sys.executable, "-m", "gradfix", "check", "--no-cache", "--jobs", jobs, "src"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert len([line for line in done.stderr.splitlines() if ": error: " in line]) == 6
        assert "src/good.py:7:16: GF102" in done.stdout
