"""GF101: numpy function applied to tensors on a Keras layer's forward path."""

from __future__ import annotations

from gradfix.codemods._numpy_calls import numpy_call_finding, numpy_calls_on_tensors, where
from gradfix.analysis import TensorScope
from gradfix.rules import FixSafety, Rule


class NumpyOnForwardPath(Rule):
    code = "GF101"
    name = "numpy-on-forward-path"
    summary = "numpy function applied to tensors in a Layer/Model's `call` (or what it reaches), or a `Lambda` layer"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("numpy",)
    outside_keras_classes = ("Lambda",)  # the function of a Lambda layer is a forward pass too
    explanation = """
## Why gradients stop
`tf.GradientTape` records TensorFlow operations only. `np.dot(x, self.w)` converts both tensors to
NumPy arrays and returns an array: the tape sees nothing, so every weight upstream gets a `None`
gradient. In graph mode (`fit`, `tf.function`) the same line raises `NotImplementedError` because a
symbolic tensor cannot become an array.

## What the fix does
Rewrites the call to the TensorFlow op that computes the same values and shape (a mapping table of
more than 50 functions, each checked against NumPy by a property test). Where the plain TF op would
depend on something the analysis cannot see — `np.dot(a, b)` when the rank of `b` is unknown (NumPy
contracts with b's second-to-last axis when rank(b) > 2, so neither `tf.matmul` nor
`tf.tensordot(axes=1)` is always equal), `np.take` with indices that may be negative — the fix uses a
NumPy-compatible op instead, equal to NumPy for every rank: `keras.ops` in Keras 3 code that imports
`keras` itself, `tf.experimental.numpy` elsewhere (dot and matmul, without any global switch; a file that
reaches Keras only through TensorFlow may run as Keras 2 under `TF_USE_LEGACY_KERAS=1`, where
`tf.keras.ops` does not exist). A Keras 3 file that does not import
TensorFlow is backend-agnostic: every fix there is `keras.ops`, and no `import tensorflow` is added.
Calls whose result is indices (`np.argsort`, `np.nonzero`, `np.searchsorted`) carry no gradient
whatever computes them: they are reported with what to write instead. Where no exact equivalent
exists for the form written (`np.linalg.norm(x, ord=1)` of unknown rank: a vector or a matrix norm),
the call is reported and left alone. A fix is whole or absent: it is only made when
every use of the result takes a tensor (not `.reshape`, `.T`, `.tolist()`, item assignment or a
NumPy-only API), the numpy calls it feeds are rewritten too, and no dtype or rank the analysis cannot
see changes the result (integer inputs, float64 constants, a Python int first operand, the mean of
values of unknown dtype); otherwise the finding says why. numpy on plain Python values (shapes,
`np.sqrt(self.units)`, constants) and on values that leave the gradient path (an action sampled with
`np.random.choice`, logging) is never touched.

## Example
```python
# before
def call(self, inputs):
    return np.dot(inputs, self.w) + self.b
# after (self.w of rank 2)
def call(self, inputs):
    return tf.tensordot(inputs, self.w, axes=1) + self.b
# after (the rank of self.w chosen at run time; Keras 3 file with `import keras`)
def call(self, inputs):
    return keras.ops.dot(inputs, self.w) + self.b
```

## Keras 3 vs Keras 2
Keras 3: the result is an ndarray and all gradients are None. tf_keras: the ndarray is converted back
when added to a tensor, so `b` gets a gradient while `w` silently does not. Keras 2 has no `keras.ops`:
where the ranks are unknown, tf_keras code gets `tf.experimental.numpy.dot`/`matmul`.
"""

    def check(self, analysis):
        scopes = [(scope, where(scope)) for scope in analysis.forward_scopes]
        for function, role, place in analysis.values.keras_function_roles():
            if role == "lambda":  # the function of a `Lambda` layer is its forward pass
                scopes += [(TensorScope(view.function, analysis.imports, view=view), place)
                           for view in analysis.values.views(function)]
        for scope, place in scopes:
            for call, function in numpy_calls_on_tensors(analysis, scope):
                yield numpy_call_finding(self, analysis, scope, call, function, place)
