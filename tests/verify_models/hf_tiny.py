"""A BERT from transformers small enough to run in a second: random weights from a config, nothing downloaded."""
import tensorflow as tf
from transformers import BertConfig

CONFIG = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8,
                    max_position_embeddings=8)
TOKENS = tf.constant([[1, 2, 3, 4], [5, 6, 7, 8]])
LABELS = tf.constant([0, 1])
