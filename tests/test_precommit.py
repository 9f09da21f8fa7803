"""The hooks of .pre-commit-hooks.yaml, run the way pre-commit runs them: on no file, on clean and broken
files, by hand (entry + filenames) and through pre-commit itself (a local copy of the hooks that uses the
gradfix installed here instead of installing it from the network)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
GRADFIX = shutil.which("gradfix", path=str(Path(sys.executable).parent))
BROKEN = """import tensorflow as tf


class Residual(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2.0
"""
FIXED = BROKEN.replace("inputs.numpy()", "inputs")
CLEAN = "import tensorflow as tf\n\nx = tf.constant(1.0)\n"


@pytest.fixture
def repo(in_tmp):
    (in_tmp / "broken.py").write_text(BROKEN)
    (in_tmp / "clean.py").write_text(CLEAN)
    return in_tmp


def run_hook(hook_id: str, files: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """What pre-commit does for a `language: python` hook: entry, then args, then the file names."""
    hook = HOOKS[hook_id]
    command = shlex.split(hook["entry"]) + hook.get("args", []) + files
    command[0] = GRADFIX
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


def test_hooks_are_declared_for_python_and_notebooks():
    assert set(HOOKS) == {"gradfix-check", "gradfix-apply"}
    for hook in HOOKS.values():
        assert hook["language"] == "python" and hook["require_serial"] is True
        assert set(hook["types_or"]) == {"python", "jupyter"}
    assert HOOKS["gradfix-check"]["entry"] == "gradfix check" and HOOKS["gradfix-apply"]["entry"] == "gradfix apply"


def test_an_empty_file_list_checks_the_folder_as_ruff_does(repo):
    """pre-commit skips a hook that has no file to check; one set to `always_run` gets no file names and, as
    `gradfix check` with no path, checks the current folder."""
    completed = run_hook("gradfix-check", [], repo)
    assert completed.returncode == 1 and "broken.py:6:16: GF102" in completed.stdout


def test_check_hook_on_files(repo):
    assert run_hook("gradfix-check", ["clean.py"], repo).returncode == 0
    completed = run_hook("gradfix-check", ["clean.py", "broken.py"], repo)
    assert completed.returncode == 1 and "broken.py:6:16: GF102" in completed.stdout


def test_apply_hook_on_files(repo):
    completed = run_hook("gradfix-apply", ["clean.py", "broken.py"], repo)
    assert completed.returncode == 0, completed.stderr
    assert (repo / "broken.py").read_text() == FIXED and (repo / "clean.py").read_text() == CLEAN


def pre_commit(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=repo, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(repo), "PRE_COMMIT_HOME": str(repo / ".cache")})


@pytest.fixture
def git_repo(repo):
    pytest.importorskip("pre_commit", reason="pre-commit is a dev dependency (pyproject.toml)")
    hooks = []
    for hook in HOOKS.values():
        local = {**hook, "language": "system", "entry": hook["entry"].replace("gradfix", GRADFIX, 1)}
        hooks += [local, {**local, "id": hook["id"] + "-always", "always_run": True}]
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}))
    (repo / "notes.txt").write_text("not python\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    return repo


def test_pre_commit_runs_the_hooks(git_repo):
    skipped = pre_commit(git_repo, "run", "gradfix-check", "--files", "notes.txt")
    assert skipped.returncode == 0 and "(no files to check)Skipped" in skipped.stdout, skipped.stdout
    everything = pre_commit(git_repo, "run", "gradfix-check-always", "--files", "notes.txt")
    assert everything.returncode == 1 and "broken.py:6:16: GF102" in everything.stdout, everything.stdout
    assert pre_commit(git_repo, "run", "gradfix-check", "--files", "clean.py").returncode == 0
    failed = pre_commit(git_repo, "run", "gradfix-check", "--files", "clean.py", "broken.py")
    assert failed.returncode == 1 and "broken.py:6:16: GF102" in failed.stdout
    fixed = pre_commit(git_repo, "run", "gradfix-apply", "--files", "broken.py")
    assert fixed.returncode == 1 and "files were modified by this hook" in fixed.stdout
    assert (git_repo / "broken.py").read_text() == FIXED
    assert pre_commit(git_repo, "run", "gradfix-check", "--files", "broken.py").returncode == 0
