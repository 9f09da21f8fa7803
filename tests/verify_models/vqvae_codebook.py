"""A VQ-VAE (keras.io style): the straight-through estimator sends no gradient to the codebook through the output;
it trains only through the loss added with `add_loss`. Trained with `fit`: the codebook trains."""
import tensorflow as tf
from toy_data import x

keras = tf.keras


class VectorQuantizer(keras.layers.Layer):
    def __init__(self, num_embeddings, embedding_dim, beta=0.25, **kwargs):
        super().__init__(**kwargs)
        self.num_embeddings, self.embedding_dim, self.beta = num_embeddings, embedding_dim, beta
        self.codebook = self.add_weight(shape=(embedding_dim, num_embeddings), initializer="random_uniform",
                                        name="codebook")

    def call(self, inputs):
        indices = tf.argmin(self.distances(inputs), axis=1)
        quantized = tf.matmul(tf.one_hot(indices, self.num_embeddings), self.codebook, transpose_b=True)
        commitment_loss = tf.reduce_mean((tf.stop_gradient(quantized) - inputs) ** 2)
        codebook_loss = tf.reduce_mean((quantized - tf.stop_gradient(inputs)) ** 2)
        self.add_loss(self.beta * commitment_loss + codebook_loss)
        return inputs + tf.stop_gradient(quantized - inputs)  # straight-through: the decoder's gradient skips it

    def distances(self, inputs):
        similarity = tf.matmul(inputs, self.codebook)
        return (tf.reduce_sum(inputs ** 2, axis=1, keepdims=True) + tf.reduce_sum(self.codebook ** 2, axis=0)
                - 2 * similarity)


class VQVAE(keras.Model):
    def __init__(self):
        super().__init__(name="vqvae")
        self.encoder = keras.layers.Dense(2, name="encoder")
        self.quantizer = VectorQuantizer(8, 2, name="quantizer")
        self.decoder = keras.layers.Dense(4, name="decoder")

    def call(self, inputs):
        return self.decoder(self.quantizer(self.encoder(inputs)))


model = VQVAE()
model.compile(optimizer="adam", loss="mse")
model.fit(x, x, epochs=1, batch_size=8, verbose=0)
