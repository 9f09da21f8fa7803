"""tf_keras (Keras 2) variant of the item scorer: a projection that is single- or multi-head by a constructor argument,
so the rank of its kernel is only known at run time, applied with `np.dot`. tf_keras turns the NumPy result back
into a tensor for the next layer, so the head trains while the projection gets no gradient (GF101: the fix is
tf.experimental.numpy.dot, equal to np.dot for every rank; keras.ops does not exist in Keras 2)."""
import numpy as np
import tensorflow as tf
import tf_keras


class Projection(tf_keras.layers.Layer):
    def __init__(self, units, heads=None, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.heads = heads

    def build(self, input_shape):
        if self.heads:
            shape = (self.heads, input_shape[-1], self.units)
        else:
            shape = (input_shape[-1], self.units)
        self.kernel = self.add_weight(name="kernel", shape=shape, initializer="glorot_uniform")

    def call(self, items):
        return np.dot(items, self.kernel)


model = tf_keras.Sequential([Projection(4, heads=3, name="project"), tf_keras.layers.Flatten(),
                             tf_keras.layers.Dense(1, name="score")])
items = tf.random.stateless_normal((16, 6), seed=(1, 2))
targets = tf.random.stateless_uniform((16, 1), seed=(3, 4))
optimizer = tf_keras.optimizers.SGD(0.05)
for step in range(2):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(items) - targets))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None])
