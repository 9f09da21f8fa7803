"""`--python` / `[tool.gradfix.verify] python`: the target runs in the project's own interpreter, which has
TensorFlow but not gradfix; the child is a copy of its modules, which import nothing else of gradfix."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from gradfix.verify.bundle import bundled_modules

# the names this environment's gradfix installs into site-packages (package, editable finder, metadata)
GRADFIX_ENTRIES = ("gradfix", "__editable__", "_gradfix")


def test_the_bundled_child_imports_nothing_of_gradfix_outside_itself():
    """At module level, the child's modules import one another relatively and nothing else of gradfix. (Imports
    inside functions run only when called: `report.__str__` renders in gradfix's process; what the child itself
    runs in a function is proved by the tests below, in an interpreter without gradfix.)"""
    names = {path.stem for path in bundled_modules()}
    for path in bundled_modules():
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Import):
                assert not any(alias.name.partition(".")[0] == "gradfix" for alias in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert node.level or node.module.partition(".")[0] != "gradfix", (path.name, node.lineno)
                imported = [node.module] if node.module else [alias.name for alias in node.names]
                assert not node.level or set(imported) <= names, (path.name, node.lineno, "not in CHILD_MODULES")


@pytest.fixture(scope="module")
def project_python(tmp_path_factory) -> Path:
    """A second venv, as a project's own: its site-packages holds symlinks to every package of this environment
    (TensorFlow, Keras, numpy ...) except gradfix's own entries, so it has TensorFlow and cannot import gradfix.
    Symlinks rather than a copy or a reinstall: seconds, not minutes, and the same TensorFlow either way."""
    venv = tmp_path_factory.mktemp("project") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        capture_output=True, text=True, check=True).stdout.strip())
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(GRADFIX_ENTRIES) and entry.suffix != ".pth":
            (site_packages / entry.name).symlink_to(entry)
    check = subprocess.run([python, "-c", "import gradfix"], capture_output=True, text=True, cwd=venv,
                           env=_without_pythonpath())
    assert "No module named 'gradfix'" in check.stderr  # the precondition the tests below rely on
    return python


def _without_pythonpath() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


def test_python_option_runs_the_target_in_that_interpreter(gradfix_verify, project_python, tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    script = tmp_path / "where.py"
    script.write_text("import sys\nprint('running in', sys.prefix)\n", encoding="utf-8")
    code, _, outcome = gradfix_verify(str(script), "--python", str(project_python), "--output-format", "json")
    assert (code, outcome["error"]) == (2, "nothing to verify: the target called no Keras model that has weights "
                                           "and never called GradientTape.gradient")
    assert f"running in {project_python.parent.parent}" in outcome["output"]


def test_a_missing_interpreter_is_a_clean_error(gradfix_verify, tmp_path):
    script = tmp_path / "model.py"
    script.write_text("pass\n", encoding="utf-8")
    code, stdout, _ = gradfix_verify(str(script), "--python", str(tmp_path / "nowhere" / "python"))
    assert code == 2
    assert "Traceback" not in stdout


@pytest.mark.tf
def test_configured_python_verifies_a_model_without_gradfix_installed(gradfix_verify, project_python, tmp_path,
                                                                     monkeypatch):
    monkeypatch.delenv("PYTHONPATH", raising=False)
    venv = project_python.parent.parent
    (tmp_path / "pyproject.toml").write_text(
        f'[tool.gradfix]\ntarget-keras = "3"\n\n[tool.gradfix.verify]\npython = "{os.path.relpath(project_python, tmp_path)}"\n',
        encoding="utf-8")
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent("""\
        import sys
        import numpy as np
        import tensorflow as tf

        class Scale(tf.keras.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 1), name="w")

            def call(self, inputs):
                return np.dot(inputs, self.w.numpy())

        print("running in", sys.prefix)
        tf.keras.Sequential([Scale(name="scale")], name="net")(np.ones((2, 3), "float32"))
        """), encoding="utf-8")
    code, _, outcome = gradfix_verify(str(script), "--output-format", "json")
    assert f"running in {venv}" in outcome["output"]
    assert (code, outcome["failing_variables"]) == (1, ["net/scale/w"]), outcome["error"]
    assert outcome["keras"].startswith("keras 3.")


def test_the_configured_python_is_not_taken_for_a_file_with_a_factory(tmp_path):
    from gradfix.config import load_config

    (tmp_path / "pyproject.toml").write_text('[tool.gradfix.verify]\npython = ".venv/bin/python"\n'
                                             '"models/net.py" = "make_model"\n', encoding="utf-8")
    config = load_config(tmp_path)
    assert (config.verify_python, config.verify_factories) == (".venv/bin/python", {"models/net.py": "make_model"})
