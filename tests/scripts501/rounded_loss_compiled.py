"""A regression on whole-number targets (Keras 3): the loss handed to compile() rounds the prediction
first, so no weight of `counts` gets a gradient."""
import numpy as np
import tensorflow as tf
from tensorflow import keras

rng = np.random.default_rng(0)
x = rng.normal(size=(64, 6)).astype("float32")
y = np.round(np.abs(x.sum(axis=1, keepdims=True)))


def rounded_mse(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_true - tf.round(y_pred)))


model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                          keras.layers.Dense(1, name="head")], name="counts")
model.compile(optimizer="adam", loss=rounded_mse)
model.fit(x, y, epochs=1, batch_size=16, verbose=0)
