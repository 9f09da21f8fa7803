"""The command line, through typer's runner and as a real subprocess: every verb and exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradfix import __version__
from gradfix.cli import app

BROKEN = """import tensorflow as tf


class Residual(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2.0
"""
FIXED = BROKEN.replace("inputs.numpy()", "inputs")
CLEAN = "import tensorflow as tf\n\nx = tf.constant(1.0)\n"

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


@pytest.fixture
def project(in_tmp):
    (in_tmp / "pkg").mkdir()
    (in_tmp / "pkg" / "layer.py").write_text(BROKEN)
    (in_tmp / "pkg" / "clean.py").write_text(CLEAN)
    return in_tmp


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and __version__ in result.stdout


def test_check_exit_codes(project):
    assert invoke("check", "pkg/clean.py").exit_code == 0
    result = invoke("check", "pkg")
    assert result.exit_code == 1
    assert "pkg/layer.py:6:16: GF102 [*] `.numpy()` on a tensor" in result.stdout
    (project / "pkg" / "broken_syntax.py").write_text("import tensorflow as tf\nclass L(tf.keras.layers.Layer):\n"
                                                     "    def call(:\n        return x.numpy()\n")
    result = invoke("check", "pkg")
    assert result.exit_code == 2
    assert "pkg/broken_syntax.py: error: syntax error at line 3" in result.stderr
    assert "GF102" in result.stdout, "the rest of the tree is still processed"
    assert "Traceback" not in result.output


def test_check_missing_path_and_unknown_code(project):
    assert invoke("check", "nope.py").exit_code == 2
    result = invoke("check", "pkg", "--select", "GF999")
    assert result.exit_code == 2 and "unknown rule code" in result.stderr


def test_select_and_ignore(project):
    assert invoke("check", "pkg", "--ignore", "GF102").exit_code == 0
    assert invoke("check", "pkg", "--select", "GF1").exit_code == 1
    assert invoke("check", "pkg", "--select", "GF101").exit_code == 0


def test_json_output(project):
    result = invoke("check", "pkg", "--output-format", "json")
    findings = json.loads(result.stdout)
    assert findings[0]["code"] == "GF102"
    assert findings[0]["location"] == {"row": 6, "column": 16}
    assert findings[0]["fix"]["applicability"] == "safe"
    assert findings[0]["fix"]["edits"][0]["content"] == "inputs"


def test_dry_run_writes_nothing_and_git_applies(project):
    before = (project / "pkg" / "layer.py").read_bytes()
    result = invoke("apply", "--dry-run", "pkg")
    assert result.exit_code == 0
    assert (project / "pkg" / "layer.py").read_bytes() == before
    assert not (project / ".gradfix" / "last-apply.json").exists(), "a dry run leaves nothing to undo"
    assert result.stdout.startswith("--- a/pkg/layer.py\n+++ b/pkg/layer.py\n")
    (project / "change.diff").write_text(result.stdout)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    check = subprocess.run(["git", "apply", "--check", "change.diff"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert invoke("apply", "--diff", "pkg").stdout == result.stdout


def test_apply_then_undo_restores_bytes(project):
    layer = project / "pkg" / "layer.py"
    layer.chmod(0o640)
    result = invoke("apply", "pkg")
    assert result.exit_code == 0
    assert layer.read_text() == FIXED
    assert layer.stat().st_mode & 0o777 == 0o640
    assert "Fixed 1 finding in 1 file" in result.stderr
    assert invoke("apply", "pkg").exit_code == 0 and layer.read_text() == FIXED, "a second run changes nothing"
    result = invoke("undo")
    assert result.exit_code == 0, result.output
    assert layer.read_text() == BROKEN


def test_undo_refuses_when_a_file_changed(project):
    invoke("apply", "pkg")
    layer = project / "pkg" / "layer.py"
    layer.write_text(FIXED + "# edited\n")
    result = invoke("undo")
    assert result.exit_code == 2
    assert "pkg/layer.py" in result.stderr and "changed since" in result.stderr
    assert layer.read_text() == FIXED + "# edited\n"


def test_undo_without_record(in_tmp):
    result = invoke("undo")
    assert result.exit_code == 2 and "nothing to undo" in result.stderr


@pytest.mark.parametrize("name, encode", [
    ("crlf", lambda text: text.replace("\n", "\r\n").encode()),
    ("bom", lambda text: b"\xef\xbb\xbf" + text.encode()),
    ("tabs", lambda text: text.replace("    ", "\t").encode()),
    ("latin1", lambda text: ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + text).encode("latin-1")),
    ("no_final_newline", lambda text: text.rstrip("\n").encode()),
])
def test_file_style_is_kept(in_tmp, name, encode):
    path = in_tmp / f"{name}.py"
    path.write_bytes(encode(BROKEN))
    assert invoke("apply", path.name).exit_code == 0
    assert path.read_bytes() == encode(FIXED)
    assert invoke("undo").exit_code == 0
    assert path.read_bytes() == encode(BROKEN)


def test_untouched_files_stay_byte_identical(project):
    clean = project / "pkg" / "clean.py"
    weird = "\ufeffimport tensorflow as tf\r\n\r\nif True:\r\n\tx = tf.constant(1.0)  # café".encode()
    clean.write_bytes(weird)
    invoke("apply", "pkg")
    assert clean.read_bytes() == weird


def test_stdin_mode(in_tmp):
    result = invoke("apply", "-", "--stdin-filename", "layer.py", input=BROKEN)
    assert result.exit_code == 0
    assert result.stdout == FIXED
    result = invoke("check", "-", "--stdin-filename", "layer.py", input=BROKEN)
    assert result.exit_code == 1 and result.stdout.startswith("layer.py:6:16: GF102")
    broken = "import tensorflow as tf\nclass L(tf.keras.layers.Layer):\n    def call(:\n        x.numpy()\n"
    result = invoke("apply", "-", "--stdin-filename", "bad.py", input=broken)
    assert result.exit_code == 2 and result.stdout == broken, "editors must get their buffer back"


def test_rules_and_explain():
    result = invoke("rules")
    assert result.exit_code == 0
    assert "GF101" in result.stdout and "GF102" in result.stdout
    result = invoke("explain", "gf101")
    assert result.exit_code == 0
    assert "## Why gradients stop" in result.stdout and "## Example" in result.stdout
    assert invoke("explain", "GF999").exit_code == 2


def test_real_subprocess_entry_points(project):
    """`python -m gradfix` and the console script behave like the in-process runner."""
    module = subprocess.run([sys.executable, "-m", "gradfix", "check", "pkg"], cwd=project,
                            capture_output=True, text=True)
    assert module.returncode == 1 and "GF102" in module.stdout
    script = shutil.which("gradfix", path=str(Path(sys.executable).parent))
    assert script, "console script installed next to the interpreter"
    completed = subprocess.run([script, "apply", "--dry-run", "pkg"], cwd=project, capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("--- a/pkg/layer.py")
    assert "Traceback" not in completed.stderr


BARE_VARIABLE = """import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = tf.Variable(tf.zeros((input_shape[-1], 2)))

    def call(self, x):
        return tf.matmul(x, self.w)
"""


@pytest.mark.parametrize("target, reported", [("2", False), ("3", True), ("auto", True)])
def test_target_keras_decides_keras_3_only_rules_and_verify_default(in_tmp, target, reported):
    from gradfix.verify.cli import configured_keras

    (in_tmp / "pyproject.toml").write_text(f'[tool.gradfix]\ntarget-keras = "{target}"\n')
    (in_tmp / "layer.py").write_text(BARE_VARIABLE)
    result = invoke("check", "layer.py")
    assert ("GF201" in result.stdout) is reported
    assert configured_keras("layer.py::make") == target
