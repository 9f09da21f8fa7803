"""A custom train_step (Keras 3) calls the model's own loss method, which scores rounded predictions and
counts the predicted positives: tf.round and tf.math.count_nonzero have no gradient."""
import numpy as np
import tensorflow as tf
from tensorflow import keras


class PositiveCounter(keras.Model):
    def __init__(self):
        super().__init__(name="counter")
        self.hidden = keras.layers.Dense(8, activation="relu", name="hidden")
        self.out = keras.layers.Dense(1, activation="sigmoid", name="out")

    def call(self, x):
        return self.out(self.hidden(x))

    def custom_loss(self, y, p):
        error = tf.reduce_mean(tf.abs(y - tf.round(p)))
        positives = tf.cast(tf.math.count_nonzero(p > 0.5), tf.float32)
        return error + tf.abs(positives - tf.reduce_sum(y)) / 64.0

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            p = self(x, training=True)
            loss = self.custom_loss(y, p)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


rng = np.random.default_rng(0)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
model = PositiveCounter()
model.compile(optimizer="adam")
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
