"""A bare tf.Variable attribute: Keras 3 does not track it, so `fit` never trains it (tf_keras does track it)."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.w = tf.Variable(tf.random.normal((input_shape[-1],)), name="w")

    def call(self, inputs):
        return inputs * self.w


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.scale = Scale(name="scale")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(self.scale(inputs))


model = Net()
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
