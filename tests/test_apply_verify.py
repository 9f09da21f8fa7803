"""`gradfix apply --verify`: a fix is written only when the patched script still runs and computes the same."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gradfix.cli import app

pytestmark = pytest.mark.tf

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
