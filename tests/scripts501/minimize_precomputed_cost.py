"""optimizer.minimize() with a loss callable that returns a cost computed before the call (tf_keras): the
optimizer's tape records only the lambda, so the model gets no gradient."""
import numpy as np
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(1, name="head")], name="line")
optimizer = tf.keras.optimizers.SGD(0.1)
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 3)).astype("float32")
y = x @ np.array([[1.0], [-2.0], [0.5]], dtype="float32")
for step in range(3):
    prediction = model(x)
    cost = tf.reduce_mean(tf.square(prediction - y))
    optimizer.minimize(lambda: cost, model.trainable_variables)
