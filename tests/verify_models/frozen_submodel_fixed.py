"""A frozen sub-model, deliberately: `trainable = False` takes its weights out of training, visibly."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Encoder(keras.Model):
    def __init__(self):
        super().__init__(name="encoder")
        self.dense = keras.layers.Dense(4, activation="tanh", name="dense")

    def call(self, inputs):
        return self.dense(inputs)


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.encoder = Encoder()
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(self.encoder(inputs))


model = Net()
model.encoder.trainable = False
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
