"""The training loop runs the model and hands the logits to a step function whose tape records only the
loss (Keras 3): the tape never saw the forward pass, every gradient is None."""
import numpy as np
import tensorflow as tf

model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(3, name="logits")], name="classifier")
optimizer = tf.keras.optimizers.Adam(1e-3)
loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def apply_step(logits, labels):
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, logits)
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


rng = np.random.default_rng(0)
features = rng.normal(size=(32, 8)).astype("float32")
labels = rng.integers(0, 3, size=(32,))
for epoch in range(2):
    logits = model(features, training=True)
    apply_step(logits, labels)
