"""The command line as a new user meets it (issue 12): configuration validated and found per file, sensible
defaults for paths, help without type noise, installs without warnings, `apply` confined to what it was
pointed at; and each file's Keras (issue 10) read from its imports, the project's pins or --target-keras."""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import ROOT, run_on_text
from gradfix.cli import app
from gradfix.pins import declared_keras

LAYER = """import tensorflow as tf


class Gate(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2.0
"""
FIXED = LAYER.replace("inputs.numpy()", "inputs")
runner = CliRunner()


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


# --- configuration: validated, not coerced -----------------------------------------------------------------

@pytest.mark.parametrize("setting, key", [
    ('select = "GF302"', "select"),
    ('max-file-size = "big"', "max-file-size"),
    ('per-file-ignores = ["x"]', "per-file-ignores"),
    ("unsafe-fixes = 1", "unsafe-fixes"),
    ("target-keras = 4", "target-keras"),
])
def test_a_setting_of_the_wrong_type_is_an_error_naming_file_and_key(in_tmp, setting, key):
    (in_tmp / "pyproject.toml").write_text(f"[tool.gradfix]\n{setting}\n")
    (in_tmp / "layer.py").write_text(LAYER)
    result = invoke("check", "layer.py")
    assert result.exit_code == 2, result.output
    assert "pyproject.toml" in result.stderr and key in result.stderr and "Traceback" not in result.output


def test_a_pyproject_that_is_not_toml_is_an_error_not_ignored(in_tmp):
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nignore = ['GF102'\n")
    (in_tmp / "layer.py").write_text(LAYER)
    result = invoke("check", "layer.py")
    assert result.exit_code == 2 and "pyproject.toml" in result.stderr and "not valid TOML" in result.stderr


# --- configuration found per file, results independent of the folder passed --------------------------------

@pytest.fixture
def two_projects(in_tmp):
    """One repository, two packages with their own settings: `quiet` ignores GF102, `loud` does not."""
    for name, table in {"quiet": 'ignore = ["GF102"]', "loud": "select = []"}.items():
        (in_tmp / name).mkdir()
        (in_tmp / name / "pyproject.toml").write_text(f"[tool.gradfix]\n{table}\n")
        (in_tmp / name / "layer.py").write_text(LAYER)
    return in_tmp


def test_each_file_has_the_configuration_nearest_to_it(two_projects):
    result = invoke("check", "--output-format", "concise", "--no-cache", ".")
    assert result.exit_code == 1
    assert sorted(line.split(":")[0] for line in result.stdout.splitlines()) == ["loud/layer.py"]


def test_a_layer_defined_in_another_file_is_found_whichever_folder_is_passed(in_tmp):
    (in_tmp / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    (in_tmp / "models").mkdir()
    (in_tmp / "models" / "base.py").write_text(
        "import tensorflow as tf\n\n\nclass Base(tf.keras.layers.Layer):\n    pass\n")
    (in_tmp / "models" / "blocks").mkdir()
    (in_tmp / "models" / "blocks" / "block.py").write_text(
        "from models.base import Base\n\n\nclass Block(Base):\n    def call(self, inputs):\n"
        "        return inputs.numpy() * 2\n")
    for folder in (".", "models", "models/blocks", "models/blocks/block.py"):
        result = invoke("check", "--output-format", "concise", "--no-cache", folder)
        assert "block.py:6:16: GF102" in result.stdout, folder


# --- paths -------------------------------------------------------------------------------------------------

def test_no_path_checks_the_current_folder(in_tmp):
    (in_tmp / "layer.py").write_text(LAYER)
    result = invoke("check", "--no-cache")
    assert result.exit_code == 1 and "layer.py:6:16: GF102" in result.stdout


def test_a_missing_path_is_an_error_that_says_so(in_tmp):
    result = invoke("check", "nothere.py")
    assert result.exit_code == 2 and "nothere.py: error: no such file or folder" in result.stderr
    assert "All checks passed" not in result.stdout


def test_a_run_that_finds_no_python_file_says_so(in_tmp):
    (in_tmp / "docs").mkdir()
    (in_tmp / "docs" / "notes.txt").write_text("not python\n")
    result = invoke("check", "docs")
    assert result.exit_code == 0 and "no Python file or notebook found in docs" in result.stderr


def test_jobs_must_not_be_negative(in_tmp):
    (in_tmp / "layer.py").write_text(LAYER)
    result = invoke("check", "-j", "-1", "layer.py")
    assert result.exit_code == 2 and "--jobs" in result.output


# --- help and packaging ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [[], ["check"], ["apply"], ["undo"], ["rules"], ["explain"], ["verify"]])
def test_help_shows_no_python_types(command):
    result = invoke(*command, "--help", terminal_width=200)
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout and "<list[" not in result.stdout, result.stdout
    if command in (["check"], ["apply"], ["verify"]):
        assert "[tool.gradfix" in result.stdout, "rich markup must not eat the name of the config table"


def test_the_license_is_an_spdx_string_with_a_setuptools_that_reads_it():
    """setuptools deprecates `license = { text = ... }` (installs print a warning); SPDX strings need 77+."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


# --- apply stays inside what it was pointed at -------------------------------------------------------------

@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_apply_skips_a_symlink_that_leaves_the_folder(tmp_path, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "layer.py").write_text(LAYER)
    project = tmp_path / "project"
    project.mkdir()
    (project / "own.py").write_text(LAYER)
    os.symlink(outside / "layer.py", project / "link.py")
    (project / "inner.py").symlink_to(project / "own.py")  # resolves inside: a file of the project
    monkeypatch.chdir(project)
    result = invoke("apply", ".")
    assert result.exit_code == 0, result.output
    assert (outside / "layer.py").read_text() == LAYER, "a file outside the folder was rewritten"
    assert "link.py: skipped: a symlink to" in result.stderr
    assert (project / "own.py").read_text() == FIXED


# --- Keras flavour per file --------------------------------------------------------------------------------

BARE_VARIABLE = """{imports}


class Scale({base}):
    def build(self, input_shape):
        self.scale = tf.Variable(1.0)

    def call(self, inputs):
        return inputs * self.scale
"""


def gf201_found(imports: str, base: str = "tf.keras.layers.Layer", **options) -> bool:
    text = BARE_VARIABLE.format(imports=imports, base=base)
    return "GF201" in {d.code for d in run_on_text(text, fix=False, **options).diagnostics}


@pytest.mark.parametrize("imports, base", [
    ("import tensorflow as tf, tf_keras", "tf_keras.layers.Layer"),
    ("import tensorflow as tf, tf_keras as keras", "keras.layers.Layer"),
    ("import os\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\nimport tensorflow as tf", "tf.keras.layers.Layer"),
    ("import os\nos.environ.setdefault(\"TF_USE_LEGACY_KERAS\", \"1\")\nimport tensorflow as tf\n"
     "from tensorflow import keras", "keras.layers.Layer"),
])
def test_keras_2_code_is_recognised_in_every_import_form(imports, base):
    """Keras 2 tracks bare tf.Variables: GF201 (a Keras 3 problem) must stay silent."""
    assert not gf201_found(imports, base)


@pytest.mark.parametrize("imports, base", [
    ("import tensorflow as tf", "tf.keras.layers.Layer"),
    ("import tensorflow as tf\nfrom tensorflow import keras", "keras.layers.Layer"),
    ("import tensorflow as tf, keras", "keras.layers.Layer"),
    ("import os\nos.environ['TF_USE_LEGACY_KERAS'] = '0'\nimport tensorflow as tf", "tf.keras.layers.Layer"),
])
def test_keras_3_code_is_still_reported(imports, base):
    assert gf201_found(imports, base)


def test_target_keras_on_the_command_line_overrides_the_config(in_tmp):
    (in_tmp / "pyproject.toml").write_text('[tool.gradfix]\ntarget-keras = "3"\n')
    (in_tmp / "layer.py").write_text(BARE_VARIABLE.format(imports="import tensorflow as tf",
                                                          base="tf.keras.layers.Layer"))
    assert "GF201" in invoke("check", "--no-cache", "layer.py").stdout
    result = invoke("check", "--no-cache", "--target-keras", "2", "layer.py")
    assert result.exit_code == 0 and "GF201" not in result.stdout
    assert invoke("check", "--target-keras", "4", "layer.py").exit_code == 2


@pytest.mark.parametrize("name, text, keras", [
    ("pyproject.toml", "[project]\nname = 'p'\ndependencies = ['tensorflow>=2.12,<2.16']\n", "2"),
    ("pyproject.toml", "[project]\nname = 'p'\ndependencies = ['tensorflow>=2.16']\n", None),
    ("pyproject.toml", "[project]\nname = 'p'\ndependencies = ['numpy']\n"
                       "[project.optional-dependencies]\ndev = ['tf-keras']\n", None),
    ("setup.cfg", "[options]\ninstall_requires =\n    tf-keras>=2.15\n", "2"),
    ("setup.py", "from setuptools import setup\nsetup(name='p', install_requires=['tensorflow==2.15.*'])\n", "2"),
    ("requirements.txt", "numpy\ntensorflow~=2.13.0\n", "2"),
    ("requirements.txt", "tensorflow~=2.13\n", None),
    ("requirements-dev.txt", "tf_keras\n", None),
])
def test_the_projects_pins_declare_its_keras(tmp_path, name, text, keras):
    (tmp_path / name).write_text(text)
    assert declared_keras(tmp_path) == keras


@pytest.mark.parametrize("name, text, keras", [
    ("pyproject.toml", "[project]\nname = 'p'\n[project.optional-dependencies]\ngpu = ['tensorflow[and-cuda]<2.16']\n",
     "2"),
    ("PKG-INFO", "Metadata-Version: 2.1\nName: p\nRequires-Dist: tensorflow (<2.16) ; extra == 'tf'\n", "2"),
    ("p.egg-info/requires.txt", "numpy\n\n[tf]\ntensorflow~=2.15.0\n", "2"),
    ("p.egg-info/requires.txt", "numpy\n\n[dev]\ntensorflow~=2.15.0\n", None),
    ("requirements.txt", "keras<3\n", "2"),
    ("requirements.txt", "keras-nlp<0.14\ntensorflow-text<2.16\n", None),
])
def test_pins_in_extras_and_build_metadata_declare_its_keras(tmp_path, name, text, keras):
    """An extra that holds TensorFlow below 2.16 is the project saying which TF it runs on; a dev extra is not."""
    (tmp_path / name).parent.mkdir(exist_ok=True)
    (tmp_path / name).write_text(text)
    assert declared_keras(tmp_path) == keras


def unpacked_distribution(site: Path, metadata: str) -> Path:
    """A wheel's files as pip lays them out: the package beside its `*.dist-info`, with a bare tf.Variable."""
    package = site / "agents" / "policies"
    package.mkdir(parents=True)
    (site / "agents" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "net.py").write_text(BARE_VARIABLE.format(imports="import tensorflow as tf",
                                                         base="tf.keras.layers.Layer"))
    (site / "agents-0.19.0.dist-info").mkdir()
    (site / "agents-0.19.0.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: agents\nVersion: 0.19.0\n{metadata}\nDescription text\n")
    return package / "net.py"


@pytest.mark.parametrize("metadata, found", [
    ("Requires-Dist: numpy\nRequires-Dist: tensorflow ~=2.15.0 ; extra == 'reverb'", False),
    ("Requires-Dist: tf-keras>=2.16; extra == \"tf\"", False),
    ("Requires-Dist: tensorflow ~=2.15.0 ; extra == 'dev'", True),
    ("Requires-Dist: tensorflow >=2.16", True),
    # header fields continue on lines that start with white space (RFC 822), blank-looking ones included
    ("License: Apache\n        \n        more text\nRequires-Dist: numpy\nRequires-Dist: tensorflow\n"
     "  ~=2.15.0 ; extra == 'reverb'", False),
    ("Requires-Dist: numpy\n\nRequires-Dist: tensorflow ~=2.15.0", True),  # after the blank line: the body
])
def test_auto_follows_the_metadata_of_the_installed_distribution(in_tmp, metadata, found):
    """tf_agents 0.19 declares its TF only in its wheel's METADATA, under an extra: it is Keras 2 code."""
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\n")  # the config root is not the distribution's folder
    layer = unpacked_distribution(in_tmp / "site-packages", metadata)
    assert ("GF201" in invoke("check", "--no-cache", str(layer.relative_to(in_tmp))).stdout) is found


def test_auto_follows_the_pins_of_the_files_project(in_tmp):
    (in_tmp / "requirements.txt").write_text("tensorflow<2.16\n")
    (in_tmp / "layer.py").write_text(BARE_VARIABLE.format(imports="import tensorflow as tf",
                                                          base="tf.keras.layers.Layer"))
    assert invoke("check", "--no-cache", "layer.py").exit_code == 0
    assert "GF201" in invoke("check", "--no-cache", "--target-keras", "3", "layer.py").stdout


def test_the_standalone_keras_package_stays_keras_3_under_tf_use_legacy_keras():
    """Measured with TF 2.21: TF_USE_LEGACY_KERAS=1 makes `tf.keras` tf_keras, but `import keras` is Keras 3."""
    imports = "import os\nos.environ['TF_USE_LEGACY_KERAS'] = '1'\nimport keras\nimport tensorflow as tf"
    assert gf201_found(imports, "keras.layers.Layer")


def test_the_readme_says_how_to_use_gradfix_on_ones_own_project_before_the_make_targets():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    own, make = readme.index("## On your own project"), readme.index("## Two commands")
    assert own < make and "pipx install gradfix" in readme[own:make] and "gradfix verify" in readme[own:make]


# --- apply --interactive asks per finding ------------------------------------------------------------------

ADJACENT = """import numpy as np
import tensorflow as tf


class Dense(tf.keras.layers.Layer):
    def call(self, inputs):
        hidden = np.tanh(inputs)
        return np.exp(hidden)
"""


def test_interactive_asks_about_each_finding_even_on_adjacent_lines(in_tmp):
    (in_tmp / "dense.py").write_text(ADJACENT)
    result = invoke("apply", "--interactive", "dense.py", input="n\ny\n")
    assert result.exit_code == 0, result.output
    assert result.stderr.count("Apply this change?") == 2
    assert "dense.py:7:18: GF101 np.tanh()" in result.stderr and "dense.py:8:16: GF101 np.exp()" in result.stderr
    assert (in_tmp / "dense.py").read_text() == ADJACENT.replace("np.exp(", "tf.math.exp(")
    assert "Fixed 1 finding in 1 file; 1 remaining." in result.stderr


def test_findings_whose_fixes_change_one_line_are_asked_about_together(in_tmp):
    (in_tmp / "dense.py").write_text(ADJACENT.replace("np.exp(hidden)", "np.exp(hidden.numpy())"))
    result = invoke("apply", "--interactive", "dense.py", input="y\nn\n")
    assert result.stderr.count("Apply this change?") == 2
    question = result.stderr.split("Apply this change?")[1]
    assert "GF101 np.exp()" in question and "GF102" in question


def test_bases_are_followed_through_re_exports_and_circles_end(in_tmp):
    (in_tmp / "setup.py").write_text("")
    package = in_tmp / "pkg"
    (package / "layers").mkdir(parents=True)
    (package / "__init__.py").write_text("from .layers import Base\nfrom .loop import Loop\n")
    (package / "loop.py").write_text("from . import Loop\n")
    (package / "layers" / "__init__.py").write_text("from .base import Base\n")
    (package / "layers" / "base.py").write_text(
        "import tensorflow as tf\n\n\nclass Base(tf.keras.layers.Layer):\n    pass\n")
    (package / "model.py").write_text(
        "from pkg import Base, Loop\n\n\nclass Block(Base, Loop):\n    def call(self, inputs):\n"
        "        return inputs.numpy() * 2\n")
    result = invoke("check", "--output-format", "concise", "--no-cache", "pkg/model.py")
    assert "pkg/model.py:6:16: GF102" in result.stdout


# --- a base class in another file -----------------------------------------------------------------------------

BASE_LAYER = """import tensorflow as tf


class ProjectedBase(tf.keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape={shape}, initializer="glorot_uniform")
"""
DERIVED_LAYER = """import numpy as np

from base import ProjectedBase


class Projected(ProjectedBase):
    def call(self, inputs):
        return np.dot(inputs, self.kernel)
"""


def test_weight_ranks_come_from_the_build_of_a_base_class_in_another_file(in_tmp):
    """The kernel's rank is declared in base.py: np.dot is exact as tensordot(axes=1) only for rank <= 2, beyond
    it the NumPy-compatible dot is written. When base.py changes, the cached result of layer.py (which names the
    base) is not reused."""
    (in_tmp / "base.py").write_text(BASE_LAYER.format(shape="(input_shape[-1], self.units)"))
    (in_tmp / "layer.py").write_text(DERIVED_LAYER)
    assert "+        return tf.tensordot(inputs, self.kernel, axes=1)" in invoke("apply", "--dry-run", ".").stdout
    (in_tmp / "base.py").write_text(BASE_LAYER.format(shape="(input_shape[-1], self.units, 2)"))
    result = invoke("apply", "--dry-run", ".")
    assert "+        return tf.experimental.numpy.dot(inputs, self.kernel)" in result.stdout, result.stdout
