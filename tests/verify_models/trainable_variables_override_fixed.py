"""An override of `trainable_variables`, fixed: deleted, Keras lists every trainable weight itself."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.body = keras.layers.Dense(4, activation="tanh", name="body")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, inputs):
        return self.head(self.body(inputs))


model = Net()
optimizer = keras.optimizers.SGD(0.1)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
