"""GF103: numpy on tensors inside a loss or metric function (given to `compile`, a `keras.losses.Loss`
subclass, or called on the way to a `GradientTape`'s target)."""

from __future__ import annotations

import ast

from codemods._numpy_calls import numpy_call_finding, numpy_calls_on_tensors
from gradfix.analysis import KerasKind, TensorScope
from gradfix.rules import FixSafety, Rule

LOSS_ARGUMENTS = ("loss", "metrics", "weighted_metrics")
LOSS_POSITION = 1  # compile(optimizer, loss, ...) in Keras 3 and tf_keras alike


class NumpyInLoss(Rule):
    code = "GF103"
    name = "numpy-in-loss"
    summary = "numpy function applied to tensors in a loss or metric function"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("numpy",)
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
    """(TensorScope, "in loss function `f`") for every loss/metric function of the file, each once."""
    found: dict[int, tuple[TensorScope, str]] = {}
    text = analysis.source.text
    compiles, definitions = _compile_calls_and_definitions(analysis.tree) if "compile" in text or \
        "GradientTape" in text else ([], {})

    def add(function, where):
        if id(function) not in found:
            found[id(function)] = (TensorScope(function, analysis.imports), where)

    for call in compiles:
        if analysis.qualname(call.func):
            continue  # `re.compile(...)`: a module's function, not a model's method
        given = [k.value for k in call.keywords if k.arg in LOSS_ARGUMENTS] + call.args[LOSS_POSITION:LOSS_POSITION + 1]
        for function in (f for value in given for f in _functions_given(value, definitions)):
            add(function, f"in loss/metric function `{_name(function)}`")
    if "GradientTape" in text:
        for tape in analysis.tapes:
            for node in ast.walk(tape.node):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and tape.on_gradient_path(node):
                    for function in definitions.get(node.func.id, []):
                        add(function, f"in `{node.func.id}`, called on the way to the GradientTape's target")
    for keras_class in analysis.keras_classes:
        if keras_class.kind is KerasKind.LOSS:
            for scope in keras_class.forward_scopes:
                found.setdefault(id(scope.function), (scope, f"in {keras_class.name}.{scope.function.name}"))
    return list(found.values())


def _compile_calls_and_definitions(tree: ast.Module):
    """`*.compile(...)` calls, and plain functions by name (module level or nested; methods are not reachable
    by a bare name)."""
    compiles, functions, methods = [], [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "compile":
            compiles.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.append(node)
        elif isinstance(node, ast.ClassDef):
            methods.update(id(s) for s in node.body)
    definitions: dict[str, list[ast.AST]] = {}
    for function in functions:
        if id(function) not in methods:
            definitions.setdefault(function.name, []).append(function)
    return compiles, definitions


def _functions_given(value: ast.AST, definitions: dict[str, list[ast.AST]]) -> list[ast.AST]:
    """The functions a `compile` argument stands for: a function's name, a lambda, lists/dicts of those,
    and the inner function returned by a factory call (`loss=weighted_mse(0.5)`)."""
    if isinstance(value, ast.Lambda):
        return [value]
    if isinstance(value, ast.Name):
        return definitions.get(value.id, []) if len(definitions.get(value.id, [])) == 1 else []
    if isinstance(value, (ast.List, ast.Tuple)):
        return [f for element in value.elts for f in _functions_given(element, definitions)]
    if isinstance(value, ast.Dict):
        return [f for element in value.values for f in _functions_given(element, definitions)]
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        factories = definitions.get(value.func.id, [])
        if len(factories) == 1:
            return _returned_functions(factories[0])
    return []


def _returned_functions(factory: ast.AST) -> list[ast.AST]:
    nested = {s.name: s for s in factory.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    returned = []
    for statement in factory.body:
        if isinstance(statement, ast.Return) and statement.value is not None:
            value = statement.value
            if isinstance(value, ast.Lambda):
                returned.append(value)
            elif isinstance(value, ast.Name) and value.id in nested:
                returned.append(nested[value.id])
    return returned


def _name(function: ast.AST) -> str:
    return getattr(function, "name", "<lambda>")
