"""A Lambda layer that closes over a tf.Variable: the tape sees it, Keras 3 does not track it, `fit` never
trains it."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras

scale = tf.Variable(2.0, name="scale")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
                          keras.layers.Lambda(lambda hidden: hidden * scale, name="scaled"),
                          keras.layers.Dense(1, name="head")], name="net")
model.compile(optimizer="sgd", loss="mse")
model.fit(x, y, epochs=1, batch_size=8, verbose=0)
