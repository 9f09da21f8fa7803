"""A numpy loss passed to `compile`: the loss is a constant to the tape, no variable gets a gradient.
(`run_eagerly=True`, as set while debugging; traced, the same numpy call fails on the symbolic tensor.)"""
import numpy as np
import tensorflow as tf
from toy_data import x, y

keras = tf.keras


def mean_squared_error(y_true, y_pred):
    return np.mean(np.square(y_true - y_pred))


model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="head")], name="net")
model.compile(optimizer="sgd", loss=mean_squared_error, run_eagerly=True)
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
