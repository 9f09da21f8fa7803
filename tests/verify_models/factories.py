"""Model factories for `gradfix verify file.py::factory` and `module:factory`: each returns
(model, inputs) or (model, inputs, loss_fn), or a model with declared inputs."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


class Scale(keras.layers.Layer):
    """`bare=True` keeps the weight in a bare tf.Variable, which Keras 3 does not track."""

    def __init__(self, bare, **kwargs):
        super().__init__(**kwargs)
        self.bare = bare

    def build(self, input_shape):
        if self.bare:
            self.w = tf.Variable(tf.random.normal((input_shape[-1],)), name="w")
        else:
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="random_normal", name="w")

    def call(self, inputs):
        return inputs * self.w


def _model(bare):
    return keras.Sequential([keras.Input((4,)), Scale(bare, name="scale"), keras.layers.Dense(1, name="head")],
                            name="net")


def make_untracked():
    return _model(bare=True), x


def make_with_loss():
    return _model(bare=False), x, lambda prediction: tf.reduce_mean(tf.square(prediction - y))


def build_model():
    """Just the model, as `build_model` functions usually return it: verify builds inputs from its keras.Input."""
    return _model(bare=True)


def make_nothing():
    return "not a model"
