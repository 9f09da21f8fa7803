"""Sentence classifier with an attention-pooling layer ported from a Keras 1 tutorial: the weights are a bare
variable and an initializer's result, registered by assigning `trainable_weights` (GF303)."""
import tensorflow as tf


class AttentionPooling(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.init = tf.keras.initializers.GlorotUniform(seed=3)

    def build(self, input_shape):
        width = input_shape[-1]
        self.W = self.init((width, width))
        self.context = tf.Variable(tf.random.normal((width,), stddev=0.1, seed=4), name="context")
        self.trainable_weights = [self.W, self.context]

    def call(self, inputs):
        keys = tf.tanh(tf.matmul(inputs, self.W))
        weights = tf.nn.softmax(tf.tensordot(keys, self.context, axes=1), axis=1)
        return tf.reduce_sum(inputs * weights[..., None], axis=1)


tokens = tf.random.stateless_uniform((32, 6), seed=(1, 2), maxval=50, dtype=tf.int32)
labels = tf.cast(tf.reduce_sum(tokens, axis=1) % 2, tf.float32)[:, None]
model = tf.keras.Sequential([tf.keras.Input((6,), dtype="int32"), tf.keras.layers.Embedding(50, 8),
                          AttentionPooling(), tf.keras.layers.Dense(1)])
optimizer = tf.keras.optimizers.Adam(0.01)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.keras.losses.binary_crossentropy(labels, model(tokens), from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
