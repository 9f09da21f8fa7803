"""Saliency map of a small image classifier (GF401): `model.predict` inside the tape returns a NumPy array,
so the gradient with respect to the image is None."""
import tensorflow as tf

model = tf.keras.Sequential([
    tf.keras.Input((8, 8, 1)),
    tf.keras.layers.Conv2D(4, 3, activation="relu"),
    tf.keras.layers.Dropout(0.25),
    tf.keras.layers.GlobalAveragePooling2D(),
    tf.keras.layers.Dense(3),
])
images = tf.random.stateless_uniform((2, 8, 8, 1), seed=(1, 2))
with tf.GradientTape() as tape:
    tape.watch(images)
    scores = model.predict(images, verbose=0)
    top_score = tf.reduce_max(scores, axis=1)
saliency = tape.gradient(top_score, images)
print("saliency is None" if saliency is None else f"saliency max {float(tf.reduce_max(tf.abs(saliency))):.4f}")
