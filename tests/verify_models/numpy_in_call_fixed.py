"""numpy in `call`, fixed: the TensorFlow op keeps the forward pass on the tape."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class NumpyDense(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 1), initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(1,), initializer="zeros", name="b")

    def call(self, inputs):
        return tf.tensordot(inputs, self.w, axes=1) + self.b


class Net(keras.Model):
    def __init__(self):
        super().__init__(name="net")
        self.proj = NumpyDense(name="proj")

    def call(self, inputs):
        return self.proj(inputs)


model = Net()
optimizer = keras.optimizers.SGD(0.1)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x) - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
