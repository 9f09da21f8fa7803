"""gradfix: find and repair TensorFlow/Keras code in which gradients silently stop flowing."""

from gradfix.deferred import defer_import

__version__ = "0.1.0"

defer_import("libcst")  # most runs never build a fix: see gradfix/deferred.py
