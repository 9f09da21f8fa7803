"""`model.predict` inside a GradientTape returns numpy: the tape sees a constant (tf_keras refuses outright)."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                          keras.layers.Dense(1, name="head")], name="net")
optimizer = keras.optimizers.SGD(0.1)
for step in range(3):
    with tf.GradientTape() as tape:
        prediction = model.predict(x, verbose=0)
        loss = tf.reduce_mean(tf.square(prediction - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
