"""Fine-tuning loop whose model overrides `trainable_variables` with the head only (GF301): the encoder that
`call` runs is never updated by the loop, though nothing freezes it."""
import tensorflow as tf


class Encoder(tf.keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(8, activation="relu")

    def call(self, inputs):
        return self.dense(inputs)


class Classifier(tf.keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = Encoder()
        self.head = tf.keras.layers.Dense(3)

    def call(self, inputs):
        return self.head(self.encoder(inputs))

    @property
    def trainable_variables(self):
        return self.head.trainable_variables


x = tf.random.stateless_normal((32, 6), seed=(1, 2))
y = tf.random.stateless_uniform((32,), seed=(3, 4), maxval=3, dtype=tf.int32)
model = Classifier()
optimizer = tf.keras.optimizers.Adam(0.01)
for step in range(3):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, model(x), from_logits=True))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
