"""A classifier on BERT's sequence output (the first token's vector). The encoder's pooler runs but feeds nothing
the loss uses: Keras only warns, training is healthy, and verify must say "unused", not fail."""
import tensorflow as tf
import tf_keras as keras  # transformers' TF models are tf_keras models
from hf_tiny import CONFIG, LABELS, TOKENS
from transformers import TFBertModel


class Classifier(keras.Model):
    def __init__(self):
        super().__init__(name="classifier")
        self.encoder = TFBertModel(CONFIG, name="encoder")
        self.box_head = keras.layers.Dense(2)

    def call(self, tokens):
        hidden = self.encoder(tokens).last_hidden_state
        return self.box_head(hidden[:, 0])


model = Classifier()
optimizer = keras.optimizers.SGD(0.1)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
with tf.GradientTape() as tape:
    loss = loss_fn(LABELS, model(TOKENS, training=True))
gradients = tape.gradient(loss, model.trainable_variables)
optimizer.apply_gradients([(g, v) for g, v in zip(gradients, model.trainable_variables) if g is not None])
