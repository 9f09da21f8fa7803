"""A bare tf.Variable attribute, fixed: `add_weight` makes the weight tracked by both Keras versions."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

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
