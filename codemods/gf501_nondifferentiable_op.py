"""GF501: a non-differentiable op (`tf.round`, `tf.argmax`, a cast to int, ...) that cuts weights off from the
layer's output or from the loss a tape differentiates. Report only: the fix is a modelling decision."""

from __future__ import annotations

import ast
from typing import Callable, Iterable, Iterator

from gradfix.analysis import KerasKind
from gradfix.analysis.gradient_flow import Cut, FunctionIndex, GradientFlow
from gradfix.analysis.ops import NoGradient, no_gradient_kind
from gradfix.analysis.keras_graph import KerasGraphs
from gradfix.analysis.tapes import dotted, own_nodes
from gradfix.rules import FixSafety, Rule

ADVICE = {
    NoGradient.ROUNDING: "a straight-through estimator keeps the rounded value and passes the gradient: "
                         "`h + {tf}.stop_gradient({tf}.round(h) - h)`",
    NoGradient.CHOICE: "use the probabilities (`{tf}.nn.softmax(logits)`, or a Gumbel-softmax sample) instead of "
                       "the hard choice, or a straight-through choice: `soft + {tf}.stop_gradient(hard - soft)`",
    NoGradient.INTEGER_CAST: "keep a float dtype on the way to the output; if you need whole numbers, use a "
                             "straight-through estimator: `h + {tf}.stop_gradient({tf}.round(h) - h)`",
    NoGradient.PYTHON: "the tape cannot see inside Python: rewrite {function} with TensorFlow ops, or give it a "
                       "gradient with `{tf}.custom_gradient`",
    NoGradient.COUNT: "a count of hard decisions has no gradient: count softly, e.g. "
                      "`{tf}.reduce_sum({tf}.sigmoid((p - 0.5) * 10.0))` for `p > 0.5`",
    NoGradient.STOP: "apply it to part of the value only (`h + {tf}.stop_gradient(q - h)`), or remove it",
}
LOSS_PARAMETERS = ("y_pred", "pred", "preds", "prediction", "predictions", "output", "logits")


class NonDifferentiableOp(Rule):
    code = "GF501"
    name = "non-differentiable-op"
    summary = "`tf.round`/`tf.argmax`/int cast/`py_function`/... cuts weights off from the output or the loss"
    fix_safety = FixSafety.NONE
    triggers = ("round", "floor", "ceil", "argmax", "argmin", "argsort", "cast", "one_hot", "py_function",
                "numpy_function", "py_func", "stop_gradient")
    explanation = """
## Why gradients stop
`tf.round`, `tf.floor`, `tf.math.ceil`, `tf.argmax`/`argmin`/`argsort`, `tf.cast` to an integer or bool
dtype, `tf.one_hot` of computed indices, `tf.py_function`/`tf.numpy_function` have no gradient:
TensorFlow returns `None` (not zero) for everything upstream. `tf.stop_gradient` does the same on
purpose. When such an op sits between a layer's weights and its output, or between the model's
prediction and the loss, those weights never train.

## What the fix does
Nothing automatic — the right replacement is a modelling decision. The finding says which weights lose
their gradient and suggests the usual remedy: a straight-through estimator
(`h + tf.stop_gradient(tf.round(h) - h)`), soft values instead of a hard choice, TF ops instead of Python.
It is only reported when the weights have no other differentiable route to the output/loss: `tf.argmax`
for accuracy, casts of masks and position ids, indices for `tf.gather`, rounding in metrics and in
post-processing, and a router whose probabilities also reach the output are all left alone.

## Example
```python
# reported
def call(self, x):
    gate = tf.round(tf.sigmoid(self.gate(x)))   # self.gate gets no gradient
    return x * gate
# a fix you might choose
def call(self, x):
    soft = tf.sigmoid(self.gate(x))
    return x * (soft + tf.stop_gradient(tf.round(soft) - soft))
```

## Keras 3 vs Keras 2
The same in both (these are TensorFlow ops); `keras.ops.round`/`argmax`/`cast` behave alike under the
TensorFlow backend.
"""

    def check(self, analysis):
        functions = FunctionIndex(analysis.tree, analysis.imports)
        reported: set[int] = set()
        for cut, place, describe in _cuts(analysis, functions):
            if id(cut.op) in reported:
                continue
            reported.add(id(cut.op))
            lost = sorted(describe(label) for label in cut.lost)
            plural = len(lost) > 1 or "weights" in lost[0]
            where = place
            if cut.function is not None and _is_lambda_layer(analysis, cut.via):
                where = f"in a Lambda layer (line {cut.via.lineno}) {place},"
            elif cut.function is not None:
                where = f"in `{_function_name(cut.function)}`, called at line {cut.via.lineno} {place},"
            advice = ADVICE[cut.kind].format(tf=analysis.tf_name, function=_python_function(analysis, cut.op))
            yield self.finding(cut.op, f"`{_op_name(analysis, cut.op)}()` {where} has no gradient: "
                                       f"{', '.join(lost)} {'get' if plural else 'gets'} None; {advice}")


def _cuts(analysis, functions: FunctionIndex):
    """(cut, where it is, how to name a lost seed) for every flow gradfix knows how to set up."""
    yield from _layer_cuts(analysis, functions)
    yield from _tape_cuts(analysis, functions)
    yield from _compiled_loss_cuts(analysis, functions)
    yield from _assembled_model_cuts(analysis, functions)


def _layer_cuts(analysis, functions):
    for keras_class in analysis.keras_classes:
        if keras_class.kind not in (KerasKind.LAYER, KerasKind.MODEL):
            continue
        for name in keras_class.forward_method_names:
            method = keras_class.methods[name]
            if any("gradient" in ast.unparse(d) for d in method.decorator_list):
                continue  # a custom gradient defines its own backward pass
            sinks = [n.value for n in own_nodes(method) if isinstance(n, ast.Return) and n.value is not None]
            sinks += [a for n in own_nodes(method) if _is_add_loss(n) for a in n.args]
            flow = GradientFlow(method, analysis.imports, functions, _layer_seed(keras_class), sinks)
            place = f"on the way from the weights to the output of {keras_class.name}.{name}"
            yield from ((cut, place, lambda label: f"`{label}`") for cut in flow.cuts())


def _tape_cuts(analysis, functions):
    if "GradientTape" not in analysis.source.text:
        return
    for tape in analysis.tapes:
        if not tape.owners or not tape.requests:
            continue
        flow = GradientFlow(tape.scope, analysis.imports, functions, _tape_seed(tape), [r.target for r in tape.requests],
                            include=tape.contains)
        place = f"between the model and `{analysis.segment(tape.requests[0].target)}`"
        yield from ((cut, place, _weights_of) for cut in flow.cuts())


def _compiled_loss_cuts(analysis, functions):
    """Loss functions given to `model.compile(loss=...)`: a cut of `y_pred` cuts off every weight of the model."""
    if "compile" not in analysis.source.text:
        return
    for scope in [analysis.tree, *(n for n in ast.walk(analysis.tree) if isinstance(n, ast.FunctionDef))]:
        for call in own_nodes(scope):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "compile"):
                continue
            loss = next((k.value for k in call.keywords if k.arg == "loss"), call.args[1] if len(call.args) > 1 else None)
            model = dotted(call.func.value) or "the model"
            for function in _loss_functions(loss, scope, functions):
                summary = functions.summary(function)
                prediction = _prediction_parameter(function)
                for cut in summary.cuts if summary and prediction else ():
                    if prediction in cut.lost:
                        place = f"in the loss `{_function_name(function)}` given to `{model}.compile`"
                        yield Cut(cut.op, cut.kind, frozenset({model}), cut.function, cut.via), place, _weights_of


def _loss_functions(loss, scope, functions: FunctionIndex):
    values = loss.elts if isinstance(loss, (ast.List, ast.Tuple)) else loss.values if isinstance(loss, ast.Dict) \
        else [loss]
    for value in values:
        if isinstance(value, ast.Lambda):
            yield value
        elif isinstance(value, ast.Name) and functions.function_named(value.id, scope) is not None:
            yield functions.function_named(value.id, scope)


def _prediction_parameter(function) -> str | None:
    """`y_pred` of `loss(y_true, y_pred)`: the second parameter, or one named like a prediction."""
    names = [a.arg for a in function.args.posonlyargs + function.args.args]
    named = [n for n in names if n in LOSS_PARAMETERS]
    return named[0] if named else names[1] if len(names) == 2 else None


def _assembled_model_cuts(analysis, functions):
    """Lambda layers and TF ops between the layers of Sequential and functional models that the file trains."""
    if "Model" not in analysis.source.text and "Sequential" not in analysis.source.text:
        return
    graphs = KerasGraphs(analysis.tree, analysis.imports, analysis.index, functions)
    for model in graphs.models():
        if not model.trained:
            continue  # built for inference or export: nothing is differentiated through it
        name = f"`{model.names[0]}`"
        if model.layers is not None:
            yield from _sequential_cuts(analysis, graphs, functions, model, name)
            continue

        def seed(node, scope=model.scope):
            if isinstance(node, ast.Call) and graphs.layer_with_weights(node.func, scope):
                return graphs.label(node.func)
            return None

        flow = GradientFlow(model.scope, analysis.imports, functions, seed, [model.outputs])
        yield from ((cut, f"between the layers of {name}", str) for cut in flow.cuts())


def _sequential_cuts(analysis, graphs: KerasGraphs, functions: FunctionIndex, model, name: str):
    """A Lambda layer of a Sequential model whose function cuts its input off: the layers before it lose."""
    weighted: list[str] = []
    for layer in model.layers:
        if graphs.layer_with_weights(layer, model.scope):
            weighted.append(graphs.label(layer))
            continue
        stand_in = ast.copy_location(ast.Call(func=layer, args=[ast.Name(id="_input", ctx=ast.Load())], keywords=[]),
                                     layer)
        callee = functions.resolve(stand_in, model.scope)
        if callee is None or not weighted:
            continue
        if callee.op is not None:
            kind = no_gradient_kind(callee.op, analysis.imports)
            cuts = [Cut(callee.op, kind, frozenset(weighted))] if kind else []
        else:
            summary = functions.summary(callee.function)
            first = callee.arguments[0][0] if callee.arguments else None
            cuts = [Cut(c.op, c.kind, frozenset(weighted), c.function, c.via)
                    for c in (summary.cuts if summary else ()) if first in c.lost]
        for cut in cuts:
            yield cut, f"in a Lambda layer of {name}", str
        if cuts:
            weighted = []


def _is_lambda_layer(analysis, call: ast.Call) -> bool:
    return isinstance(call.func, ast.Call) and analysis.qualname(call.func.func) == "keras.layers.Lambda"


def _is_add_loss(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_loss" \
        and _is_self(node.func.value)


def _weights_of(label: str) -> str:
    return "the model's weights" if label == "self" else f"the weights of `{label}`"


def _function_name(function) -> str:
    return getattr(function, "name", "the lambda")


def _op_name(analysis, op: ast.Call) -> str:
    func = op.func
    if isinstance(func, ast.Call):  # `Lambda(K.cast, ...)(x)`
        return analysis.segment(func.args[0]) if func.args else "Lambda"
    return analysis.segment(func) if hasattr(func, "lineno") else ast.unparse(func)


def _python_function(analysis, op: ast.Call) -> str:
    function = op.args[0] if op.args else None
    named = isinstance(function, (ast.Name, ast.Attribute)) and hasattr(function, "lineno")
    return f"`{analysis.segment(function)}`" if named else "its body"


def _layer_seed(keras_class):
    """`self.kernel` (a weight) and `self.dense(...)` (a sub-layer call) carry the layer's weights."""
    def seed(node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in keras_class.weight_attrs:
            return f"self.{node.attr}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_self(node.func.value) \
                and node.func.attr in keras_class.layer_attrs:
            return f"self.{node.func.attr}"
        return None
    return seed


def _tape_seed(tape):
    """Calls of the differentiated model, source variables and watched tensors carry what is differentiated."""
    def seed(node: ast.AST) -> str | None:
        if isinstance(node, ast.Call) and tape.is_owned(dotted(node.func)):
            return dotted(node.func)
        name = dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if name and (name in tape.source_values or name in tape.watched_names):
            return name
        return None
    return seed


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"
