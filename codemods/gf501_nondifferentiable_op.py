"""GF501: a non-differentiable op (`tf.round`, `tf.argmax`, a cast to int, ...) that cuts weights off from the
layer's output or from the loss a tape differentiates. Report only: the fix is a modelling decision."""

from __future__ import annotations

import ast

from gradfix.analysis import KerasKind
from gradfix.analysis.classes import FORWARD_ENTRY_POINTS
from gradfix.analysis.cuts import Cut, find_cuts
from gradfix.analysis.flow import dotted
from gradfix.analysis.keras_graph import KerasGraphs, describe_label
from gradfix.analysis.ops import NoGradient, lambda_layer_op, no_gradient_kind
from gradfix.analysis.program import entry_parameters
from gradfix.analysis.statements import module_statements
from gradfix.analysis.values import Kind, Value
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
    severity = "error"
    triggers = ("round", "floor", "ceil", "argmax", "argmin", "argsort", "cast", "one_hot", "py_function",
                "numpy_function", "py_func", "stop_gradient", "count_nonzero", "tf.where")
    outside_keras_classes = ("GradientTape", "compile", "Model", "Sequential")  # tapes, compiled losses, models
    explanation = """
## Why gradients stop
`tf.round`, `tf.floor`, `tf.math.ceil`, `tf.argmax`/`argmin`/`argsort`, `tf.cast` to an integer or bool
dtype, `tf.one_hot` of computed indices, `tf.math.count_nonzero`, `tf.where(condition)` (indices, and its
`.shape` a Python number), `tf.py_function`/`tf.numpy_function` have no gradient: TensorFlow returns `None`
(not zero) for everything upstream. `tf.stop_gradient` does the same on purpose. When such an op sits
between weights and what is differentiated, those weights never train. gradfix looks for it
- in a layer's `call` (and the helpers it calls), up to what it returns or adds with `add_loss`;
- between the model and the target of a `GradientTape`, including methods and functions called in the block
  (`loss = self.custom_loss(y, p)`);
- in a loss function given to `compile(loss=...)` (then every weight of the model is cut off);
- in `Lambda` layers and TF ops between the layers of a Sequential or functional model that the file trains
  (`Lambda(lambda q: tf.argmax(q, 2))`, `K.argmax` between a generator and a discriminator).

## What the fix does
Nothing automatic: the right replacement is a modelling decision. The finding names the weights that lose
their gradient (worked out from the value flow, not guessed) and the op, with advice for that op: softmax
probabilities or a Gumbel-softmax sample instead of a hard argmax choice, a straight-through estimator
(`h + tf.stop_gradient(tf.round(h) - h)`) for rounding, TensorFlow ops instead of a `numpy_function` body,
a soft count instead of `count_nonzero`. It stays silent when the weights have another differentiable route
(straight-through estimators, a router whose softmax also reaches the output, a VQ codebook looked up with
`argmin` that trains through `add_loss`, `stop_gradient` on a target), when the op is off the path
(argmax for accuracy or action selection, casts of masks and position ids, indices for `tf.gather`,
metrics given to `compile`), and for models the file never trains (an export model ending in argmax).

## Example
```python
# reported: `tf.argmax()` in a Lambda layer of `model` has no gradient: `encoder` gets None
model = keras.Sequential([keras.layers.Dense(5, name="encoder"),
                          keras.layers.Lambda(lambda q: tf.argmax(q, -1)),
                          keras.layers.Embedding(5, 4), keras.layers.Dense(1)])
# a fix you might choose: keep the probabilities
model = keras.Sequential([keras.layers.Dense(5, name="encoder"), keras.layers.Softmax(),
                          keras.layers.Dense(4, use_bias=False), keras.layers.Dense(1)])
```

## Keras 3 vs Keras 2
The same in both (these are TensorFlow ops); `keras.ops.round`/`argmax`/`cast` behave alike under the
TensorFlow backend. `K.argmax`/`K.one_hot` on Keras tensors between layers exist only in Keras 2 (tf_keras).
"""

    def check(self, analysis):
        reported: set[int] = set()
        for cut, place, describe in _cuts(analysis):
            if id(cut.op) in reported:
                continue
            reported.add(id(cut.op))
            lost = sorted(describe(label) for label in cut.lost)
            plural = len(lost) > 1 or "weights" in lost[0]
            where = place
            if cut.function is not None and (_is_lambda_layer(analysis, cut.via) or isinstance(cut.function, ast.Lambda)):
                where = f"in a Lambda layer (line {cut.via.lineno}) {place}"
            elif cut.function is not None:
                where = f"in `{_function_name(cut.function)}`, called at line {cut.via.lineno} {place},"
            advice = ADVICE[cut.kind].format(tf=analysis.tf_name, function=_python_function(analysis, cut.op))
            yield self.finding(cut.op, f"`{_op_name(analysis, cut.op)}()` {where} has no gradient: "
                                       f"{', '.join(lost)} {'get' if plural else 'gets'} None; {advice}")


def _cuts(analysis):
    """(cut, where it is, how to name a lost weight) for every flow gradfix knows how to set up."""
    yield from _layer_cuts(analysis)
    yield from _tape_cuts(analysis)
    yield from _compiled_loss_cuts(analysis)
    yield from _assembled_model_cuts(analysis)


def _layer_cuts(analysis):
    """From the weights and sub-layers of a Layer/Model to what `call` returns or adds with `add_loss`."""
    for keras_class in analysis.keras_classes:
        if keras_class.kind not in (KerasKind.LAYER, KerasKind.MODEL) or keras_class.is_preprocessing:
            continue
        for name in FORWARD_ENTRY_POINTS:
            method = keras_class.methods.get(name)
            if method is None or any("gradient" in ast.unparse(d) for d in method.decorator_list):
                continue  # a custom gradient defines its own backward pass
            flow = analysis.values.entry(method, keras_class)
            place = f"on the way from the weights to the output of {keras_class.name}.{name}"
            for cut in find_cuts(flow, [*flow.return_values, *flow.loss_values], _is_layer_weight):
                yield cut, place, lambda label: f"`{label}`"


def _is_layer_weight(label: str) -> bool:
    """`self.kernel` (a weight) and `self.dense` (a sub-layer) carry the layer's weights; its inputs do not."""
    return label.startswith("self.")


def _tape_cuts(analysis):
    if "GradientTape" not in analysis.source.text:
        return
    for tape in analysis.tapes:
        if tape.owners and tape.requests:
            place = f"between the model and `{analysis.segment(tape.requests[0].target)}`"
            for cut in find_cuts(tape.flow, [r.target for r in tape.requests], include=tape.contains):
                yield cut, place, _weights_of


def _compiled_loss_cuts(analysis):
    """Loss functions given to `model.compile(loss=...)`: a cut of `y_pred` cuts off every weight of the model."""
    if "compile" not in analysis.source.text:
        return
    for statement in module_statements(analysis.tree):
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "compile"):
            continue
        loss = next((k.value for k in call.keywords if k.arg == "loss"), call.args[1] if len(call.args) > 1 else None)
        model = dotted(call.func.value) or "the model"
        for function in analysis.values.functions_given(loss) if loss is not None else ():
            prediction = _prediction_parameter(function)
            if prediction is None:
                continue
            params = {**entry_parameters(function), prediction: Value(Kind.GRADIENT, origins=frozenset({prediction}))}
            for other in _parameter_names(function):
                if other != prediction:
                    params[other] = Value(Kind.TENSOR)  # the labels
            flow = analysis.values.entry(function, params=params)
            place = f"in the loss `{_function_name(function)}` given to `{model}.compile`"
            for cut in find_cuts(flow, flow.return_values, lambda label: label == prediction, targets_detached=False):
                yield Cut(cut.op, cut.kind, frozenset({model}), cut.function, cut.via), place, _weights_of


def _parameter_names(function) -> list[str]:
    return [a.arg for a in function.args.posonlyargs + function.args.args]


def _prediction_parameter(function) -> str | None:
    """`y_pred` of `loss(y_true, y_pred)`: the one named like a prediction, else the second of two."""
    names = _parameter_names(function)
    named = [n for n in names if n in LOSS_PARAMETERS]
    return named[0] if named else names[1] if len(names) == 2 else None


def _assembled_model_cuts(analysis):
    """Lambda layers and TF ops between the layers of Sequential and functional models that the file trains."""
    if "Model" not in analysis.source.text and "Sequential" not in analysis.source.text:
        return
    graphs = KerasGraphs(analysis.tree, analysis.imports, analysis.index, analysis.values)
    for model in graphs.models():
        if not model.trained:
            continue  # built for inference or export: nothing is differentiated through it
        name = f"`{model.names[0]}`"
        if model.layers is not None:
            yield from _sequential_cuts(analysis, graphs, model, name)
            continue
        flow = analysis.values.entry(model.scope)
        place = f"between the layers of {name}"
        for cut in find_cuts(flow, [model.outputs], lambda label: graphs.weighted_label(label, model.scope)):
            yield cut, place, describe_label


def _sequential_cuts(analysis, graphs: KerasGraphs, model, name: str):
    """A Lambda layer of a Sequential model whose function cuts its input off: the layers before it lose."""
    weighted: list[str] = []
    for layer in model.layers:
        if graphs.layer_with_weights(layer, model.scope):
            weighted.append(graphs.label_of(layer))
            continue
        cuts = list(_lambda_cuts(analysis, layer)) if weighted else []
        for cut in cuts:
            yield Cut(cut.op, cut.kind, frozenset(weighted), cut.function, cut.via), \
                f"in a Lambda layer of {name}", describe_label
        if cuts:
            weighted = []


def _lambda_cuts(analysis, layer: ast.AST):
    """Cuts between the input of a `Lambda(...)` layer and its output."""
    if not (isinstance(layer, ast.Call) and analysis.qualname(layer.func) == "keras.layers.Lambda" and layer.args):
        return
    stand_in = ast.copy_location(ast.Call(func=layer, args=[ast.Name(id="_input", ctx=ast.Load())], keywords=[]),
                                 layer)
    op = lambda_layer_op(stand_in, analysis.imports)
    if op is not None:
        kind = no_gradient_kind(op, analysis.imports)
        if kind is not None:
            yield Cut(op, kind, frozenset({"input"}))
        return
    for function in analysis.values.functions_given(layer.args[0]):
        names = _parameter_names(function)
        if names:
            flow = analysis.values.entry(function)
            yield from find_cuts(flow, flow.return_values, lambda label: label == names[0])


def _is_lambda_layer(analysis, call: ast.Call) -> bool:
    return isinstance(call.func, ast.Call) and analysis.qualname(call.func.func) == "keras.layers.Lambda"


def _weights_of(label: str) -> str:
    return "the model's weights" if label == "self" else f"the weights of `{label}`"


def _function_name(function) -> str:
    return getattr(function, "name", "the lambda")


def _op_name(analysis, op: ast.Call) -> str:
    return analysis.segment(op.func)


def _python_function(analysis, op: ast.Call) -> str:
    function = op.args[0] if op.args else None
    named = isinstance(function, (ast.Name, ast.Attribute)) and hasattr(function, "lineno")
    return f"`{analysis.segment(function)}`" if named else "its body"
