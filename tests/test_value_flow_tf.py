"""The value-flow fixtures run with TensorFlow: each layer before and after `gradfix apply` computes the same
values with the same dtype and shape, and after the fix every trainable weight gets a gradient."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import FIXTURES

pytestmark = pytest.mark.tf

# (fixture, layer class, input width): layers whose fix the value-flow analysis makes possible
CASES = [
    ("static_method_helper", "Projection", 6),
    ("module_function_helper", "Squash", 6),
    ("nested_def_and_lambda", "Nested", 6),
    ("mixin_method", "Mixed", 6),
    ("loop_over_sub_layers", "Stack", 4),
    ("weight_shape_chosen_in_build", "Chosen", 8),
    ("python_int_first_operand", "Relu", 6),
    ("constant_vector_rank_one", "Mix", 6),
    ("flow_sensitive_name", "Later", 6),
]


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fixture, layer_class, width", CASES)
def test_fix_keeps_values_and_restores_gradients(fixture, layer_class, width):
    import numpy as np
    import tensorflow as tf

    before = getattr(load(FIXTURES / "GF101" / f"{fixture}.py", f"before_{fixture}"), layer_class)()
    after = getattr(load(FIXTURES / "GF101" / f"{fixture}.expected.py", f"after_{fixture}"), layer_class)()
    inputs = tf.constant(np.random.default_rng(0).normal(size=(3, width)).astype("float32"))
    after(inputs)
    before(inputs)
    before.set_weights(after.get_weights())
    expected = np.asarray(before(inputs))
    with tf.GradientTape() as tape:
        outputs = after(inputs)
        loss = tf.reduce_sum(outputs)
    assert outputs.shape == expected.shape
    assert outputs.dtype.as_numpy_dtype == expected.dtype
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-5, atol=1e-6)
    gradients = tape.gradient(loss, after.trainable_variables)
    assert after.trainable_variables and all(g is not None for g in gradients)
    graph_outputs = tf.function(after)(inputs)  # and it traces: no numpy left on symbolic tensors
    np.testing.assert_allclose(graph_outputs.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_float64_numpy_scalar_keeps_the_layers_compute_dtype():
    """`1.0 / np.sqrt(self.units)` is an np.float64 scalar: numpy computes the layer in float64, the fix stays
    float32 (the layer's compute dtype) with numpy's values to float32 precision, and every weight trains."""
    import numpy as np
    import tensorflow as tf

    name = "float64_scalar_constant"
    before = load(FIXTURES / "GF101" / f"{name}.py", f"before_{name}").ScaledDense(4)
    after = load(FIXTURES / "GF101" / f"{name}.expected.py", f"after_{name}").ScaledDense(4)
    inputs = tf.constant(np.random.default_rng(0).normal(size=(3, 5)).astype("float32"))
    after(inputs)
    before.build(inputs.shape)
    before.set_weights(after.get_weights())
    expected = np.asarray(before.call(inputs))
    with tf.GradientTape() as tape:
        outputs = after(inputs)
        loss = tf.reduce_sum(outputs)
    assert expected.dtype == np.float64 and outputs.dtype == tf.float32
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert all(g is not None for g in tape.gradient(loss, after.trainable_variables))
    np.testing.assert_allclose(tf.function(after)(inputs).numpy(), expected, rtol=1e-5, atol=1e-6)


UNKNOWN_RANK_CHECK = """
import importlib.util, sys
import numpy as np
import tensorflow as tf

def patch(path, name, kernel_size):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Patch(kernel_size)

before_path, after_path = sys.argv[1:]
for kernel_size, shape in (((3,), (2, 3)), ((2, 3), (5, 3)), ((2, 3), (4, 5, 3))):
    before, after = patch(before_path, "before", kernel_size), patch(after_path, "after", kernel_size)
    for layer in (before, after):
        layer.build(shape)
        layer.built = True  # tf_keras builds again on the first call when build() does not say so
    before.set_weights(after.get_weights())
    inputs = tf.constant(np.random.default_rng(0).normal(size=shape).astype("float32"))
    expected = np.asarray(before.call(inputs))
    with tf.GradientTape() as tape:
        outputs = after(inputs)
    assert outputs.shape == expected.shape and outputs.dtype.as_numpy_dtype == expected.dtype
    np.testing.assert_allclose(outputs.numpy(), expected, rtol=1e-5, atol=1e-5)
    assert all(g is not None for g in tape.gradient(outputs, after.trainable_variables))
    np.testing.assert_allclose(tf.function(after)(inputs).numpy(), expected, rtol=1e-5, atol=1e-5)
print("ok")
"""


@pytest.mark.parametrize("legacy_keras", [False, True], ids=["keras 3", "TF_USE_LEGACY_KERAS=1"])
def test_a_numpy_compatible_fix_runs_under_either_keras(legacy_keras):
    """A file that reaches Keras only through TensorFlow may run as Keras 2: its fix of np.dot on a kernel of
    unknown rank is tf.experimental.numpy.dot (tf.keras.ops is missing there), equal to numpy for rank 2 and 3
    kernels, with a gradient, under tf.function, in both Kerases."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    if legacy_keras:
        env["TF_USE_LEGACY_KERAS"] = "1"
    name = "unknown_kernel_size"
    done = subprocess.run([sys.executable, "-c", UNKNOWN_RANK_CHECK, str(FIXTURES / "GF101" / f"{name}.py"),
                           str(FIXTURES / "GF101" / f"{name}.expected.py")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
