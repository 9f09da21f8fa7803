"""A text GAN wired as one functional model (tf_keras): the generator's softmax over the vocabulary is
turned into token ids with K.argmax before the discriminator reads them, so the combined model gives the
generator no gradient."""
import numpy as np
from tensorflow.keras import backend as K
from tensorflow.keras import layers
from tensorflow.keras.models import Model, Sequential

VOCAB, LENGTH, LATENT = 20, 6, 8
generator = Sequential([layers.Input(shape=(LATENT,)), layers.Dense(LENGTH * VOCAB),
                        layers.Reshape((LENGTH, VOCAB)), layers.Softmax()], name="generator")
discriminator = Sequential([layers.Input(shape=(LENGTH,)), layers.Embedding(VOCAB, 4), layers.Flatten(),
                            layers.Dense(1, activation="sigmoid")], name="discriminator")
discriminator.compile(optimizer="adam", loss="binary_crossentropy")
discriminator.trainable = False

noise = layers.Input(shape=(LATENT,))
fake_tokens = generator(noise)
token_ids = K.argmax(fake_tokens, axis=-1)
validity = discriminator(token_ids)
combined = Model(noise, validity, name="combined")
combined.compile(optimizer="adam", loss="binary_crossentropy")

rng = np.random.default_rng(0)
for step in range(2):
    z = rng.normal(size=(16, LATENT)).astype("float32")
    combined.train_on_batch(z, np.ones((16, 1), dtype="float32"))
