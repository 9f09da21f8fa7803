"""`gradfix apply --verify`: a change is written only when verify shows it better, still running and computing the
same; unsafe fixes are tried and kept only on strictly better evidence."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from gradfix.cli import app

pytestmark = pytest.mark.tf
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # not from conftest: tests/verify has one too

SCRIPT = """import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", name="w")

    def call(self, inputs):
        return np.dot(inputs, self.w.numpy())


layer = Scale()
out = layer(tf.ones((3, 4)))
"""
# The user's own code depends on the broken behaviour: the patched script fails where the original ran.
DEPENDS_ON_NUMPY = SCRIPT + "assert isinstance(out, np.ndarray), 'expected a numpy result'\n"
MODULE_ONLY = SCRIPT.split("\n\nlayer = ")[0] + "\n"


def test_apply_verify_keeps_a_fix_that_helps_and_refuses_one_that_breaks_the_script(in_tmp):
    (in_tmp / "good.py").write_text(SCRIPT)
    (in_tmp / "depends.py").write_text(DEPENDS_ON_NUMPY)
    (in_tmp / "module.py").write_text(MODULE_ONLY)
    result = CliRunner().invoke(app, ["apply", "--verify", "good.py", "depends.py", "module.py"])
    assert result.exit_code == 0, result.output

    assert "tf.tensordot(inputs, self.w, axes=1)" in (in_tmp / "good.py").read_text()
    assert "good.py: 0/1 → 1/1 variables get gradients; forward max |Δ| " in result.stderr
    assert "Fixed 4 findings in 2 files; 2 remaining." in result.stderr

    assert (in_tmp / "depends.py").read_text() == DEPENDS_ON_NUMPY
    assert "depends.py:" in result.stderr and "left unpatched: the patched version fails to run" in result.stderr

    assert "module.py: not verified" in result.stderr
    assert "tf.tensordot" in (in_tmp / "module.py").read_text()


def test_a_two_file_fix_is_verified_as_one_change_through_the_conventional_factory_and_the_script(in_tmp):
    """train.py imports model.py: with both patched the script trains all 5 weights (with model.py alone
    patched it would crash on model.predict inside the tape); model.py is run through its `make()`."""
    for name in ("model.py", "train.py"):
        (in_tmp / name).write_bytes((FIXTURES / "demo" / name).read_bytes())
    result = CliRunner().invoke(app, ["apply", "--verify", "."])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert "model.py + train.py, verified as one change:" in lines
    assert any(line.startswith("  model.py::make: 2/5 → 5/5 variables get gradients; forward max |Δ| ")
               for line in lines), lines
    assert "  train.py: 0/0 (did not finish) → 5/5 variables get gradients; forward not compared" in lines
    assert "model(inputs, training=True)" in (in_tmp / "train.py").read_text()
    assert "tf.tensordot" in (in_tmp / "model.py").read_text()


UNUSED_NUMPY_LAYER = """import numpy as np
import tensorflow as tf


class Unused(tf.keras.layers.Layer):
    def call(self, inputs):
        return np.tanh(inputs)


def make():
    return tf.keras.Sequential([tf.keras.layers.Dense(2)]), tf.ones((3, 4))
"""
UNUSED_HOLDER = """import tensorflow as tf


class Extra:
    def __init__(self, size):
        self.scale = tf.Variable(tf.ones([size]), name="scale")


class Net(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(2)
        self.extra = Extra(2)

    def call(self, inputs):
        return self.dense(inputs)


def make():
    return Net(), tf.random.normal((8, 3))
"""


def test_ineffective_fixes_are_not_written_and_unsafe_ones_are_kept_only_when_proven(in_tmp):
    holder = (FIXTURES / "GF203" / "plain_class_holder.py").read_text().replace("# gradfix-fixture: unsafe-fixes\n", "")
    files = {"ineffective.py": UNUSED_NUMPY_LAYER, "holder.py": holder, "unused_holder.py": UNUSED_HOLDER}
    for name, text in files.items():
        (in_tmp / name).write_text(text)
    result = CliRunner().invoke(app, ["apply", "--verify", *files])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()

    assert "ineffective.py::make: 2/2 → 2/2 variables get gradients; forward max |Δ| 0.0; left unpatched: " \
           "ineffective: nothing gets better (2/2 → 2/2)" in lines
    assert (in_tmp / "ineffective.py").read_text() == UNUSED_NUMPY_LAYER

    assert "unsafe fixes (GF203) in holder.py: kept, verified" in lines
    assert "  holder.py::make: 1/2 → 2/2 variables get gradients; forward max |Δ| 0.0; more weights get gradients: " \
           "Net 'net' model.parameters.bias" in lines
    assert "class BiasParameters(tf.keras.layers.Layer):" in (in_tmp / "holder.py").read_text()

    assert "unsafe fixes (GF203) in unused_holder.py: left out: no more weights get gradients" in lines
    assert (in_tmp / "unused_holder.py").read_text() == UNUSED_HOLDER
    assert lines[-1] == "Fixed 1 finding in 1 file; 2 remaining."
