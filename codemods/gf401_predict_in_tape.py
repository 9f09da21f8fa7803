"""GF401: `model.predict(...)` (or `predict_on_batch`/`predict_step`) inside a `GradientTape` block."""

from __future__ import annotations

import ast

from gradfix.analysis.tapes import dotted
from gradfix.rules import FixSafety, Rule

PREDICT_METHODS = ("predict", "predict_on_batch", "predict_step")
# Arguments of `predict` that only batch or log; a single forward pass needs none of them.
BATCHING_ARGUMENTS = frozenset({"batch_size", "verbose"})


class PredictInTape(Rule):
    code = "GF401"
    name = "predict-in-gradient-tape"
    summary = "`model.predict(x)` inside a `GradientTape` block returns a NumPy array: no gradient"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("GradientTape",)
    explanation = """
## Why gradients stop
`model.predict` runs its own prediction loop (its own `tf.function`, batching, callbacks) and returns a
NumPy array. Nothing of it is recorded by the tape around it, so the loss computed from its result is a
constant to the tape and `tape.gradient(loss, model.trainable_variables)` is a list of `None` —
"No gradients provided for any variable" once it reaches the optimizer. `predict_step` does return a
tensor, but runs the model with `training=False` (dropout off, batch normalisation frozen) and unpacks
`(x, y)` tuples.

## What the fix does
Calls the model directly: `model.predict(x, verbose=0)` → `model(x, training=True)` in a training step. The input is kept
(given positionally or as `x=`); `batch_size` and `verbose` are dropped. It only rewrites a prediction whose
result reaches the gradient's target and whose model is the one differentiated; a teacher model's
`predict` inside a student's tape is left alone. Calls with other arguments (`steps`, `callbacks`) or a
`predict_step` of a packed `(x, y)` batch are reported, not rewritten.

A tape that differentiates with respect to an input — a saliency map, an adversarial example, a
gradient penalty: `tape.watch(image)` and `tape.gradient(loss, image)` — gets `model(x, training=False)`:
the model is only a function of the input there, and `training=True` would turn dropout on and update
batch-normalisation statistics. `training=True` is kept for tapes whose gradient goes to the model's own
variables (an optimizer step).

## Example
```python
# before
with tf.GradientTape() as tape:
    preds = model.predict(x, verbose=0)
    loss = loss_fn(y, preds)
grads = tape.gradient(loss, model.trainable_variables)
# after
with tf.GradientTape() as tape:
    preds = model(x, training=True)
    loss = loss_fn(y, preds)
grads = tape.gradient(loss, model.trainable_variables)
```

## Keras 3 vs Keras 2
Both return NumPy arrays from `predict`; in Keras 3 every gradient is None. In tf_keras too, and inside a
`tf.function` or a `train_step` override `predict` fails outright.
"""

    def check(self, analysis):
        reported: set[int] = set()  # a call inside nested tapes is reported once
        for tape in analysis.tapes:
            for node in (n for statement in tape.body for n in ast.walk(statement)):
                if isinstance(node, ast.Call) and id(node) not in reported and _predict_method(node):
                    finding = self._check_predict(analysis, tape, node)
                    if finding:
                        reported.add(id(node))
                        yield finding

    def _check_predict(self, analysis, tape, call: ast.Call):
        method = call.func.attr
        model = call.func.value
        if not tape.reaches_target(call):
            return None
        trains_model = tape.owners is None or tape.is_owned(dotted(model))
        if not trains_model and not _differentiates_its_input(tape, call):
            return None  # another model's prediction (a teacher, a target network): a constant on purpose
        training = "True" if trains_model else "False"
        target = analysis.segment(tape.requests[0].target)
        if trains_model:
            message = f"{_why(method)}: the gradient of `{target}` stops here"
        else:
            message = (f"{_why(method)}: the gradient of `{target}` with respect to the input stops here "
                       "(a saliency map, an adversarial example or a gradient penalty comes out None)")
        message = f"`{analysis.segment(call.func)}()` inside the GradientTape block {message}"
        replacement = _model_call(analysis, tape, call, training) if tape.owners is not None else None
        if replacement is None:
            return self.finding(call, f"{message}; call the model instead: "
                                      f"`{analysis.segment(model)}(x, training={training})`")
        return self.finding(call, f"{message}; use `{replacement}`", self.fix(analysis.replace(call, replacement)))


def _predict_method(call: ast.Call) -> bool:
    return isinstance(call.func, ast.Attribute) and call.func.attr in PREDICT_METHODS and dotted(call.func.value) is not None


def _why(method: str) -> str:
    if method == "predict_step":
        return "runs the model with training=False"
    return "returns a NumPy array the tape never sees"


def _differentiates_its_input(tape, call: ast.Call) -> bool:
    """The gradient is taken with respect to a tensor (`tape.gradient(loss, image)`, `image` watched) that the
    prediction's input depends on: the model is only a function of it here, not what is trained."""
    inputs = call.args[:1] + [k.value for k in call.keywords if k.arg in ("x", "data")]
    return bool(tape.source_values) and len(inputs) == 1 and tape.depends_on_sources(inputs[0])


def _model_call(analysis, tape, call: ast.Call, training: str) -> str | None:
    """`model(x, training=...)` for the prediction call, or None when its arguments do more than batch."""
    method = call.func.attr
    # predict(x, batch_size, verbose, ...): positional arguments after the input are batching ones.
    positional_extras = 2 if method == "predict" else 0
    inputs = call.args[:1] + [k.value for k in call.keywords if k.arg in ("x", "data")]
    others = [k.arg for k in call.keywords if k.arg not in ("x", "data")]
    if len(inputs) != 1 or isinstance(inputs[0], ast.Starred) or len(call.args) > 1 + positional_extras \
            or any(arg not in BATCHING_ARGUMENTS for arg in others):
        return None
    if method == "predict_step" and not _unpacked_input(tape, inputs[0]):
        return None
    return f"{analysis.segment(call.func.value)}({analysis.segment(inputs[0])}, training={training})"


def _unpacked_input(tape, expr: ast.AST) -> bool:
    """`predict_step(data)` unpacks `(x, y, sample_weight)` tuples, so it is only rewritten for an input that
    visibly is one: `data[0]`, or a name unpacked from a batch (`x, y = data`)."""
    if isinstance(expr, ast.Subscript):
        return True
    bindings = tape.bindings.get(expr.id, []) if isinstance(expr, ast.Name) else []
    return bool(bindings) and all(
        isinstance(b, ast.Assign) and any(isinstance(t, (ast.Tuple, ast.List)) for t in b.targets) for b in bindings)
