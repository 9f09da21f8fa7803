"""Bayes-by-backprop regression whose layer samples its kernel once, in build (GF205): `call` reads a
constant, so the posterior's mean and scale never get a gradient."""
import tensorflow as tf


class BayesianDense(tf.keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.mu = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="mu")
        self.rho = self.add_weight(shape=(input_shape[-1], self.units),
                                   initializer=tf.keras.initializers.Constant(-3.0), name="rho")
        self.kernel = self.mu + tf.nn.softplus(self.rho) * tf.random.normal(self.mu.shape)

    def call(self, inputs):
        return tf.matmul(inputs, self.kernel)


x = tf.random.stateless_normal((64, 4), seed=(1, 2))
y = tf.reduce_sum(x, axis=1, keepdims=True)
model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(8, activation="tanh"), BayesianDense(1)])
optimizer = tf.keras.optimizers.Adam(0.01)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(grads, model.trainable_variables) if g is not None])
