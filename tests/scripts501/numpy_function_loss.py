"""A ranking loss computed in NumPy behind tf.numpy_function, handed to compile() (Keras 3): the tape
cannot see into Python, so the model gets no gradient."""
import numpy as np
import tensorflow as tf
from tensorflow import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 5)).astype("float32")
y = x @ np.arange(5, dtype="float32")[:, None]


def _rank_distance(y_true, y_pred):
    true_rank = np.argsort(np.argsort(y_true[:, 0]))
    pred_rank = np.argsort(np.argsort(y_pred[:, 0]))
    return np.float32(np.mean((true_rank - pred_rank) ** 2) / len(true_rank) ** 2)


def rank_loss(y_true, y_pred):
    distance = tf.numpy_function(_rank_distance, [y_true, y_pred], tf.float32)
    return tf.reshape(distance, ())


model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1, name="head")], name="ranker")
model.compile(optimizer="adam", loss=rank_loss)
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
