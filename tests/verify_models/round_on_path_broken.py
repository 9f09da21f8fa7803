"""tf.round on the forward path has no gradient: everything before it (`hidden`) stops training."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.hidden = keras.layers.Dense(4, name="hidden")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(tf.round(self.hidden(inputs)))


model = Net()
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
