"""Item scorer whose projection is single- or multi-head, chosen by a constructor argument: the kernel is
(features, units) or (heads, features, units), so its rank is only known at run time, and `np.dot` contracts the
items' features with the kernel's second-to-last axis either way. A summary layer compares the heads with einsum,
norms and a stack. All of it NumPy: no gradient reaches either projection (GF101: keras.ops follows NumPy for every
rank; the file is backend-agnostic Keras 3, so it is fixed without importing TensorFlow)."""
import keras
import numpy as np


class Projection(keras.layers.Layer):
    def __init__(self, units, heads=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.heads = heads

    def build(self, input_shape):
        if self.heads:
            shape = (self.heads, input_shape[-1], self.units)
        else:
            shape = (input_shape[-1], self.units)
        self.kernel = self.add_weight(shape=shape, initializer="glorot_uniform", name="kernel")

    def call(self, items):
        return np.dot(items, self.kernel)


class HeadSummary(keras.layers.Layer):
    """Per item: the largest head's length, and how far the heads agree (the length of their mean direction)."""

    def call(self, heads):
        lengths = np.linalg.norm(heads, axis=-1)
        mean_direction = np.einsum("...hu->...u", heads / (lengths[..., None] + 1e-6)) / heads.shape[-2]
        return np.stack([np.max(lengths, axis=-1), np.linalg.norm(mean_direction, axis=-1)], axis=-1)


class Scorer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.project = Projection(4, heads=3, name="project")
        self.summary = HeadSummary()
        self.score = keras.layers.Dense(1, name="score")

    def call(self, items):
        return self.score(self.summary(self.project(items)))


items = keras.random.normal((16, 6), seed=1)
targets = keras.random.uniform((16, 1), seed=2)
model = Scorer()
model(items)
model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse", run_eagerly=True)
model.fit(items, targets, epochs=2, verbose=0)
