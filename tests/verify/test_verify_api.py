"""`check_gradients` in this process, and the probe's pieces: variable discovery and the forward digest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradfix.verify import check_gradients

pytestmark = pytest.mark.tf

X = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")  # here, not at import: `pytest -m "not tf"` never loads it


@pytest.fixture(scope="module")
def net(tf):
    """`net(scale)` → a small Keras model whose first layer keeps its weight `scale`-wise: "tracked"
    (add_weight), "bare" (a tf.Variable, untracked by Keras 3) or "numpy" (read through np.asarray)."""
    keras = tf.keras

    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, inputs):
            return inputs * self.w

    class BareScale(Scale):
        def build(self, input_shape):
            self.w = tf.Variable(tf.random.normal((input_shape[-1],)), name="w")

    class NumpyScale(Scale):
        def call(self, inputs):
            return inputs * np.asarray(self.w)

    class Net(keras.Model):
        def __init__(self, scale):
            super().__init__(name="net")
            self.scale = scale
            self.head = keras.layers.Dense(2, activation="softmax", name="head")

        def call(self, inputs):
            return self.head(self.scale(inputs))

    scales = {"tracked": Scale, "bare": BareScale, "numpy": NumpyScale}
    return lambda scale: Net(scales[scale](name="scale"))


def test_a_healthy_model_is_ok_and_reads_as_a_table(net):
    report = check_gradients(net("tracked"), X)
    assert report.ok, str(report)
    assert [v.label for v in report.variables] == ["net/scale/w", "net/head/kernel", "net/head/bias"]
    assert all(v.gradient == "ok" for v in report.variables)  # softmax outputs: a plain sum would give zeros
    text = str(report)
    assert "attribute" in text and "model.head.kernel" in text and "✓ trains" in text


def test_gradient_magnitudes_and_the_order_in_which_the_forward_pass_reads_the_weights(tf):
    keras = tf.keras

    class HeadFirst(keras.Model):  # attributes in another order than the forward pass reads them
        def __init__(self):
            super().__init__(name="net")
            self.head = keras.layers.Dense(1, name="head")
            self.hidden = keras.layers.Dense(3, name="hidden")
            self.spare = keras.layers.Dense(3, name="spare")

        def call(self, inputs):
            return self.head(self.hidden(inputs))

    model = HeadFirst()
    model.spare.build((None, 4))
    report = check_gradients(model, X)
    by_path = {v.path: v for v in report.variables}
    read = sorted((v for v in report.variables if v.read_order is not None), key=lambda v: v.read_order)
    assert [v.name for v in read] == ["net/hidden/kernel", "net/hidden/bias", "net/head/kernel", "net/head/bias"]
    assert by_path["model.spare.kernel"].read_order is None and by_path["model.spare.kernel"].grad_max is None
    kernel = by_path["model.head.kernel"]
    assert 0 < kernel.grad_mean <= kernel.grad_max


def test_an_untracked_variable_fails_with_its_path(net):
    report = check_gradients(net("bare"), X)
    assert not report.ok
    (untracked,) = [v for v in report.variables if not v.tracked]
    assert (untracked.path, untracked.verdict) == ("model.scale.w", "untracked")
    assert "model.scale.w: not tracked by Keras: not in model.variables, so neither trained nor saved" \
        in report.failures
    assert "✗ untracked: not tracked by Keras" in str(report)


def test_the_loss_function_decides_which_variables_get_gradients(net, tf):
    report = check_gradients(net("tracked"), X, loss_fn=lambda outputs: tf.reduce_sum(tf.stop_gradient(outputs)))
    cut = f"test_verify_api.py:{_line_of('tf.stop_gradient(outputs)')}: TensorFlow op StopGradient (no gradient)"
    assert [v.verdict for v in report.variables] == ["cut"] * 3
    assert all(v.problems[0].endswith(cut) for v in report.variables)
    assert report.loss == "the loss function `<lambda>` (" + report.variables[0].cut.location + ")"


def test_numpy_on_a_symbolic_tensor_is_caught_in_tf_function(net):
    report = check_gradients(net("numpy"), X)
    assert not report.ok
    assert "NotImplementedError" in report.graph_error
    (cut,) = report.variables[0].problems
    assert cut.endswith(f"test_verify_api.py:{_line_of('np.asarray(self.w)')}: np.asarray on a tensor")


def test_a_layer_built_but_never_called_is_unused_not_failing(tf):
    keras = tf.keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.head = keras.layers.Dense(2, name="head")
            self.spare = keras.layers.Dense(2, name="spare")

        def build(self, input_shape):
            self.spare.build(input_shape)  # built, never called in `call`

        def call(self, inputs):
            return self.head(inputs)

    report = check_gradients(Net(), X)
    assert report.ok, str(report)
    spare = [v for v in report.variables if v.path.startswith("model.spare.")]
    assert [(v.verdict, v.read) for v in spare] == [("unused", False)] * 2
    assert spare[0].detail == "never read by the forward pass: built but never called in `call`?"
    assert "⚠ unused: never read by the forward pass" in str(report)


def test_frozen_layers_are_reported_frozen_not_failing(net):
    model = net("tracked")
    model(X)
    model.scale.trainable = False
    report = check_gradients(model, X)
    assert report.ok, str(report)
    assert [v.label for v in report.variables if v.frozen] == ["net/scale/w"]
    assert "frozen (deliberate)" in str(report)


def _line_of(text: str) -> int:
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line and "_line_of" not in line)


def test_forward_digest_ignores_how_weights_were_initialised(net):
    """A bare tf.Variable rewritten to add_weight starts from other values; the digest compares the function
    computed, on weights derived from each variable's path."""
    from gradfix.verify.probe import forward_digest

    bare, tracked = net("bare"), net("tracked")
    assert np.abs(bare(X) - tracked(X)).max() > 0
    digests = [forward_digest(model, (X,), {}) for model in (bare, tracked)]
    assert digests[0].max_abs_diff(digests[1]) == 0.0
    assert digests[0].shapes == [[3, 2]]
