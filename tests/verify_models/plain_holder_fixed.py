"""Weights kept in a plain Python object, fixed: a Layer with `add_weight` is tracked by both Keras versions."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Projection(keras.layers.Layer):
    def __init__(self, units):
        super().__init__(name="projection")
        self.w = self.add_weight(shape=(4, units), initializer="random_normal", name="w")


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.projection = Projection(2)
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(tf.matmul(inputs, self.projection.w))


model = Net()
optimizer = keras.optimizers.SGD(0.1)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
