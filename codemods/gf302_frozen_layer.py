"""GF302: `.trainable = False` on a layer or sub-model (information: freezing is often what you want)."""

from __future__ import annotations

import ast
import re

from gradfix.codemods._variables import self_attribute, walk_function
from gradfix.analysis import Kind
from gradfix.analysis.tensors import is_self
from gradfix.rules import FixSafety, Rule

_FREEZING = re.compile(r"\.trainable\s*=\s*False\b")


class FrozenLayer(Rule):
    code = "GF302"
    name = "frozen-layer"
    summary = "`.trainable = False` on a layer or sub-model: its weights will not train (information)"
    fix_safety = FixSafety.NONE
    severity = "info"
    triggers = ("trainable",)
    pattern = _FREEZING  # a freeze somewhere in the file
    explanation = """
## Why gradients stop
Setting `layer.trainable = False` (or on a sub-model, `model.get_layer(...)`, or every layer in
`base.layers`) removes its weights from `model.trainable_variables`: `fit` does not update them, and a
`tape.gradient(loss, model.trainable_variables)` loop neither computes nor applies their gradients.
That is exactly what transfer learning wants — and exactly the bug when the freeze is forgotten, left
over from an experiment, or applied to a sub-model that was meant to be fine-tuned.

## What the fix does
Nothing: whether a frozen part should train is a decision only you can make. The finding marks the
line so that a model whose loss stalls can be checked quickly. If the weights should train, delete the
line (or set `trainable = True`); under tf_keras, compile the model again afterwards.

## Example
```python
# reported (information)
model = MainModel(16)
model.embedded.trainable = False  # the embedded model will not train
# if it should train
model = MainModel(16)
```

## Keras 3 vs Keras 2
Keras 3 reads the flag whenever it collects `trainable_variables`. Under tf_keras (Keras 2) `fit` only
picks the change up at `compile()`: freezing or unfreezing after `compile` without compiling again has
no effect on `fit`. In both, a tape asked for `model.variables` still computes gradients for frozen
weights.
"""

    def check(self, analysis):
        layer_attributes = {a for c in analysis.keras_classes for a in c.layer_attrs}
        for scope in [analysis.tree, *(n for n in ast.walk(analysis.tree)
                                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
            statements = [n for n in walk_function(scope) if isinstance(n, (ast.Assign, ast.For, ast.AsyncFor))]
            freezes = [(node, target) for node in statements if isinstance(node, ast.Assign) and _is_false(node.value)
                       for target in node.targets if isinstance(target, ast.Attribute) and target.attr == "trainable"]
            if not freezes:
                continue
            layers = _LayerExpressions(analysis, scope, layer_attributes)
            for node, target in freezes:
                if layers.is_layer(target.value):
                    yield self.finding(node, _message(analysis.segment(target.value)))


def _message(frozen: str) -> str:
    return (f"`{frozen}` is frozen: its weights leave `trainable_variables`, so neither `fit` nor a GradientTape "
            "loop will train them (intended for transfer learning; remove this line if they should train); under "
            "Keras 2 (tf_keras) the flag only takes effect at `compile()`")


class _LayerExpressions:
    """Which expressions of one scope evidently hold a Keras layer or model (never a variable: setting
    `variable.trainable` is Keras's own bookkeeping), read off the value-flow analysis at each point."""

    def __init__(self, analysis, scope: ast.AST, layer_attributes: set[str]):
        self.flow = analysis.values.entry(scope, analysis.values.keras_class_of(scope), params={})
        self.layer_attributes = layer_attributes

    def is_layer(self, expr: ast.AST) -> bool:
        value = self.flow.value(expr)
        if value.kind is Kind.LAYER and value.dtype != "self":  # `self.trainable = False`: the class's own design
            return True
        if isinstance(expr, ast.Attribute):
            return self_attribute(expr) in self.layer_attributes or (
                not is_self(expr.value) and self.is_layer(expr.value))
        return False


def _is_false(value: ast.AST) -> bool:
    return isinstance(value, ast.Constant) and value.value is False
