"""Distillation student whose softmax temperature stays frozen for a warm-up epoch, then trains (GF201: a
tf.Variable made with trainable=False cannot be switched on, and Keras 3 does not track it)."""
import tensorflow as tf


class TemperedSoftmax(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.temperature = tf.Variable(2.0, trainable=False, name="temperature")

    def call(self, logits):
        return tf.nn.softmax(logits / self.temperature)


class Student(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = tf.keras.layers.Dense(8, activation="relu")
        self.logits = tf.keras.layers.Dense(3)
        self.tempered = TemperedSoftmax()

    def call(self, inputs):
        return self.tempered(self.logits(self.hidden(inputs)))


x = tf.random.stateless_normal((32, 5), seed=(1, 2))
teacher_probs = tf.nn.softmax(tf.random.stateless_normal((32, 3), seed=(3, 4)))
student = Student()


def train_epoch(optimizer):
    with tf.GradientTape() as tape:
        loss = tf.keras.losses.KLDivergence()(teacher_probs, student(x))
    grads = tape.gradient(loss, student.trainable_variables)
    optimizer.apply_gradients(zip(grads, student.trainable_variables))


train_epoch(tf.keras.optimizers.SGD(0.1))  # warm-up: the temperature stays fixed
student.tempered.temperature.trainable = True
train_epoch(tf.keras.optimizers.SGD(0.1))  # a new optimizer for the new set of variables, as after recompiling
