"""A sequence tagger whose Sequential model picks each token's best tag with argmax in a Lambda layer and
embeds the tag again for a sentence-level score (Keras 3). The argmax has no gradient: `tokens` and
`tag_scores` never train."""
import numpy as np
import tensorflow as tf
from tensorflow import keras

rng = np.random.default_rng(0)
sentences = rng.normal(size=(64, 12, 8)).astype("float32")
labels = (sentences.mean(axis=(1, 2)) > 0).astype("float32")

model = keras.Sequential([
    keras.Input(shape=(12, 8)),
    keras.layers.Dense(16, activation="relu", name="tokens"),
    keras.layers.Dense(5, name="tag_scores"),
    keras.layers.Lambda(lambda q: tf.argmax(q, 2)),
    keras.layers.Embedding(5, 4, name="tag_embedding"),
    keras.layers.GlobalAveragePooling1D(),
    keras.layers.Dense(1, activation="sigmoid", name="sentence"),
], name="tagger")
model.compile(optimizer="adam", loss="binary_crossentropy")
model.fit(sentences, labels, epochs=1, batch_size=16, verbose=0)
