"""GF202: a variable created inside `call` (or a method `call` reaches): a new variable on every step."""

from __future__ import annotations

import ast

from gradfix.codemods._variables import VARIABLE_CLASSES, is_variable_call, layer_classes
from gradfix.rules import FixSafety, Rule


class VariableInCall(Rule):
    code = "GF202"
    name = "variable-created-in-call"
    summary = "`tf.Variable` created inside `call`: a new, untracked variable on every step"
    fix_safety = FixSafety.NONE
    severity = "error"
    triggers = ("Variable",)
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
`call` runs on every step. A `tf.Variable(...)` created there is a fresh variable each time, holding
its initial value: whatever the optimizer did to the previous one is thrown away, and the variable is
never among `model.trainable_variables` anyway (Keras tracks only weights made with `add_weight`). Under
`tf.function` (`fit`, `predict`) TensorFlow refuses to create variables on any call but the first
("tf.function only supports singleton tf.Variables created on the first call").

## What the fix does
Nothing automatic: where the variable belongs depends on what it is for. Create it once in `build`
(or `__init__`) with `self.add_weight(...)` and only read or `assign` it in `call`; if it is a
temporary value, use a tensor instead of a variable.

## Example
```python
# before
def call(self, inputs):
    self.w = tf.Variable(tf.random.normal((inputs.shape[-1], self.units)))
    return tf.matmul(inputs, self.w)
# after
def build(self, input_shape):
    self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

def call(self, inputs):
    return tf.matmul(inputs, self.w)
```

## Keras 3 vs Keras 2
Both re-create the variable on every eager call and fail under `tf.function`; neither trains it.
"""

    def check(self, analysis):
        for keras_class in layer_classes(analysis):
            for method_name in keras_class.forward_method_names:
                for node in ast.walk(keras_class.methods[method_name]):
                    if is_variable_call(analysis, node, VARIABLE_CLASSES):
                        variable = analysis.segment(node.func)
                        yield self.finding(
                            node, f"`{variable}(...)` in {keras_class.name}.{method_name} is created while the "
                                  "layer runs: Keras never tracks it (not trained, not saved), unguarded it is new on "
                                  "every call, and tf.function refuses it; create it once in `build` with "
                                  "`self.add_weight(...)`")
