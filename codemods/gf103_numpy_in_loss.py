"""GF103: numpy on tensors inside a loss or metric function (given to `compile`, a `keras.losses.Loss`
subclass, or called on the way to a `GradientTape`'s target)."""

from __future__ import annotations

import ast

from gradfix.codemods._numpy_calls import numpy_call_finding, numpy_calls_on_tensors
from gradfix.analysis import FlowView, KerasKind, TensorScope
from gradfix.rules import FixSafety, Rule



class NumpyInLoss(Rule):
    code = "GF103"
    name = "numpy-in-loss"
    summary = "numpy function applied to tensors in a loss or metric function"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("numpy",)
    outside_keras_classes = ("compile", "GradientTape")  # loss functions given to compile, or called under a tape
    explanation = """
## Why gradients stop
Keras calls a loss with tensors: `y_true` and the model's `y_pred`. `np.mean(np.square(y_true - y_pred))`
turns them into NumPy arrays, so the loss is a constant to the `GradientTape`: "No gradients provided
for any variable". Under `fit` the function runs in a `tf.function`, where the same call on a symbolic
tensor raises `NotImplementedError` instead — for metrics too.

## What the fix does
Rewrites each numpy call on tensors to the equivalent TensorFlow op, with the one mapping table GF101
uses (`np.mean` → `tf.math.reduce_mean`, `np.square` → `tf.math.square`, ...). Where no exact equivalent
exists for the form written, the call is reported and left alone. Functions looked at: those given to
`compile(loss=..., metrics=[...])` (also through a factory that returns them), `call` of a
`keras.losses.Loss` subclass, and functions of this file called inside a `GradientTape` block on the
way to the gradient's target. numpy on plain numbers (`np.log(2.0)`) is never touched.

## Example
```python
# before
def rmse(y_true, y_pred):
    return np.sqrt(np.mean(np.square(y_true - y_pred)))
model.compile(optimizer="adam", loss=rmse)
# after
def rmse(y_true, y_pred):
    return tf.math.sqrt(tf.math.reduce_mean(tf.math.square(y_true - y_pred)))
model.compile(optimizer="adam", loss=rmse)
```

## Keras 3 vs Keras 2
Both trace the loss in a `tf.function` under `fit` (an error rather than a silent `None`, unless
`run_eagerly=True`); in a custom loop both give `None` gradients.
"""

    def check(self, analysis):
        for scope, where in _loss_scopes(analysis):
            for call, numpy_name in numpy_calls_on_tensors(analysis, scope):
                yield numpy_call_finding(self, analysis, scope, call, numpy_name, where)


def _loss_scopes(analysis):
    """(TensorScope, "in loss function `f`") for every loss/metric function of the file, each once: given to
    `compile`, called on the way to a GradientTape's target (with the tape's argument values), or the `call`
    of a `keras.losses.Loss` subclass."""
    found: dict[int, tuple[TensorScope, str]] = {}

    def add(views, where):
        for view in views:
            if id(view.function) not in found:
                found[id(view.function)] = (TensorScope(view.function, analysis.imports, view.keras_class, view=view),
                                            where)

    for function, role, where in analysis.values.keras_function_roles():
        if role == "loss":
            add(analysis.values.loss_flow(function), where)
    if "GradientTape" in analysis.source.text:
        for tape in analysis.tapes:
            called = {id(flow.function): flow for flow in tape.flow.callees}
            for node in ast.walk(tape.node):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and tape.on_gradient_path(node):
                    for function in analysis.values.functions_given(node.func):
                        if id(function) in called:
                            add([FlowView(function, (called[id(function)],))],
                                f"in `{node.func.id}`, called on the way to the GradientTape's target")
    for keras_class in analysis.keras_classes:
        if keras_class.kind is KerasKind.LOSS and "call" in keras_class.methods:
            add(analysis.values.loss_flow(keras_class.methods["call"], keras_class),
                f"in {keras_class.name}.call")
    return list(found.values())
