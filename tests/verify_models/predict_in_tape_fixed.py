"""`model.predict` inside a GradientTape, fixed: calling the model keeps the forward pass on the tape."""
import tensorflow as tf
from toy_data import x, y

keras = tf.keras

model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="tanh", name="hidden"),
                          keras.layers.Dense(1, name="head")], name="net")
optimizer = keras.optimizers.SGD(0.1)
for step in range(3):
    with tf.GradientTape() as tape:
        prediction = model(x, training=True)
        loss = tf.reduce_mean(tf.square(prediction - y))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
