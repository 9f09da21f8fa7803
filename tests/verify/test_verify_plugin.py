"""The pytest plugin, as users get it: the `pytest11` entry point loads it into a separate pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.tf

TESTS = """\
    import tensorflow as tf

    keras = tf.keras
    X = tf.ones((2, 3))


    class Bare(keras.layers.Layer):
        def build(self, input_shape):
            self.w = tf.Variable(tf.ones((input_shape[-1],)), name="w")

        def call(self, inputs):
            return inputs * self.w


    def test_dense_passes(assert_gradients_flow):
        report = assert_gradients_flow(keras.Sequential([keras.layers.Dense(2)]), X)
        assert report.ok


    def test_bare_variable_fails(assert_gradients_flow):
        model = keras.Sequential([Bare(name="bare"), keras.layers.Dense(2)])
        assert_gradients_flow(model, X)
    """


def test_assert_gradients_flow_fails_a_test_with_the_table(tmp_path):
    (tmp_path / "test_model.py").write_text(textwrap.dedent(TESTS), encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_model.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "TF_USE_LEGACY_KERAS": "0"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "gradients do not flow:" in run.stdout
    assert "model.layers[0].w" in run.stdout and "✗ untracked: not tracked by Keras" in run.stdout
    assert "Traceback" not in run.stdout
