"""gradfix: find and repair TensorFlow/Keras code in which gradients silently stop flowing."""

__version__ = "0.1.0"
