"""BERT's pooled output through a head written in numpy: np.dot returns an ndarray, so neither the head nor the
encoder gets a gradient."""
import numpy as np
import tensorflow as tf
import tf_keras as keras
from hf_tiny import CONFIG, LABELS, TOKENS
from transformers import TFBertModel


class NumpyHead(keras.layers.Layer):
    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2), initializer="glorot_uniform")

    def call(self, pooled):
        return np.dot(pooled, self.kernel)


class Classifier(keras.Model):
    def __init__(self):
        super().__init__(name="classifier")
        self.encoder = TFBertModel(CONFIG, name="encoder")
        self.head = NumpyHead(name="head")

    def call(self, tokens):
        return self.head(self.encoder(tokens).pooler_output)


model = Classifier()
optimizer = keras.optimizers.SGD(0.1)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
with tf.GradientTape() as tape:
    loss = loss_fn(LABELS, model(TOKENS))
gradients = tape.gradient(loss, model.trainable_variables)
optimizer.apply_gradients(zip(gradients, model.trainable_variables))
