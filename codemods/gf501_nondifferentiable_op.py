"""GF501: a non-differentiable op (`tf.round`, `tf.argmax`, a cast to int, ...) that cuts weights off from the
layer's output or from the loss a tape differentiates. Report only: the fix is a modelling decision."""

from __future__ import annotations

import ast
from typing import Callable, Iterable, Iterator

from gradfix.analysis import KerasKind
from gradfix.analysis.flow import dotted, keyword_argument
from gradfix.rules import FixSafety, Rule

_ROUNDING = "a straight-through estimator keeps the forward value and passes the gradient: " \
            "`h + {tf}.stop_gradient({tf}.round(h) - h)`"
_CHOICE = "use the soft values (`{tf}.nn.softmax(logits)`), or a straight-through choice: " \
          "`soft + {tf}.stop_gradient(hard - soft)`"
_PYTHON = "write it with TensorFlow ops, or give it a gradient with `{tf}.custom_gradient`"
_STOP = "apply it to part of the value only (`h + {tf}.stop_gradient(q - h)`), or remove it"
# Canonical op name -> advice; a cast counts only when its dtype is an integer or bool.
NON_DIFFERENTIABLE = {
    **{f"{module}.{op}": _ROUNDING for module in ("tensorflow", "tensorflow.math", "keras.ops")
       for op in ("round", "floor", "ceil")},
    **{f"{module}.{op}": _CHOICE for module in ("tensorflow", "tensorflow.math", "keras.ops")
       for op in ("argmax", "argmin", "argsort")},
    "tensorflow.one_hot": _CHOICE, "keras.ops.one_hot": _CHOICE,
    "tensorflow.py_function": _PYTHON, "tensorflow.numpy_function": _PYTHON, "tensorflow.py_func": _PYTHON,
    "tensorflow.stop_gradient": _STOP, "keras.ops.stop_gradient": _STOP,
}
CASTS = frozenset({"tensorflow.cast", "tensorflow.dtypes.cast", "keras.ops.cast"})
INTEGER_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"})
_CAST_ADVICE = "keep a float dtype on the way to the output; if you need integer values, " + _ROUNDING

class NonDifferentiableOp(Rule):
    code = "GF501"
    name = "non-differentiable-op"
    summary = "`tf.round`/`tf.argmax`/int cast/`py_function`/... cuts weights off from the output or the loss"
    fix_safety = FixSafety.NONE
    severity = "error"
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
        reported: set[int] = set()
        for flow, place in _flows(analysis):
            for call, advice, lost in flow.cuts():
                if id(call) not in reported:
                    reported.add(id(call))
                    names = ", ".join(f"`{s}`" for s in sorted(lost))
                    tf = analysis.tf_name
                    yield self.finding(call, f"`{analysis.segment(call.func)}()` {place} has no gradient: {names} "
                                             f"{'gets' if len(lost) == 1 else 'get'} None; {advice.format(tf=tf)}")


def _flows(analysis) -> Iterator[tuple["_ValueFlow", str]]:
    for keras_class in analysis.keras_classes:
        if keras_class.kind not in (KerasKind.LAYER, KerasKind.MODEL):
            continue
        for view in analysis.values.forward(keras_class):
            function = view.function
            if any("gradient" in ast.unparse(d) for d in getattr(function, "decorator_list", ())):
                continue  # a custom gradient defines its own backward pass
            returns = [value for flow in view.flows for value in flow.return_values]
            name = getattr(function, "name", "<lambda>")
            yield (_ValueFlow(analysis, view.value, view.flow_of, _is_layer_weight, returns, lambda node: True),
                   f"on the way from the weights to the output of {keras_class.name}.{name}")
    if "GradientTape" in analysis.source.text:
        for tape in analysis.tapes:
            if tape.owners:
                targets = [r.target for r in tape.requests]
                yield (_ValueFlow(analysis, tape.value, lambda node, tape=tape: tape.flow, lambda label: True,
                                  targets, tape.contains),
                       f"between the model and `{analysis.segment(targets[0])}`")


def _is_layer_weight(label: str) -> bool:
    """`self.kernel` (a weight) and `self.dense` (a sub-layer) carry the layer's weights; its inputs do not."""
    return label.startswith("self.")


class _ValueFlow:
    """Which weights each value carries gradient from, and which values reach the sinks (returned values, a
    tape's targets) through gradient-carrying positions — read off the file's value-flow analysis."""

    def __init__(self, analysis, value, flow_of, is_weight: Callable[[str], bool], sinks: list[ast.expr],
                 in_scope: Callable[[ast.AST], bool]):
        self.analysis = analysis
        self.value = value
        self.flow_of = flow_of
        self.is_weight = is_weight
        self.sinks = sinks
        self.in_scope = in_scope

    def seeds(self, expr: ast.AST) -> frozenset[str]:
        return frozenset(label for label in self.value(expr).origins if self.is_weight(label))

    def cuts(self) -> Iterator[tuple[ast.Call, str, frozenset[str]]]:
        """(op, advice, weights it cuts off) for every non-differentiable op whose result reaches a sink while
        some weights feeding it have no other route there."""
        cut_calls: dict[int, tuple[ast.Call, str]] = {}
        for node in self.value_nodes(self.sinks):
            advice = self.non_differentiable(node)
            if advice and self.in_scope(node):
                cut_calls[id(node)] = (node, advice)
        if not cut_calls:
            return
        reached = frozenset().union(*(self.seeds(sink) for sink in self.sinks))
        for call, advice in sorted(cut_calls.values(), key=lambda c: (c[0].lineno, c[0].col_offset)):
            if advice is _STOP and reached:
                continue  # stop_gradient on part of the value (a straight-through estimator, a frozen weight)
            lost = frozenset().union(*(self.seeds(arg) for arg in _cut_inputs(call))) - reached
            if lost:
                yield call, advice, lost

    def value_nodes(self, roots: Iterable[ast.AST]) -> Iterator[ast.AST]:
        """The roots and every expression whose value flows into them (through names to the definitions that
        reach them), stopping at non-differentiable ops, which are yielded but not entered."""
        stack = list(roots)
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            flow = self.flow_of(node)
            if flow is not None and not self.non_differentiable(node):
                stack.extend(flow.gradient_inputs(node))

    def non_differentiable(self, node: ast.AST) -> str | None:
        if not isinstance(node, ast.Call):
            return None
        qualname = self.analysis.qualname(node.func)
        if qualname in CASTS:
            dtype = node.args[1] if len(node.args) > 1 else keyword_argument(node, "dtype")
            return _CAST_ADVICE if dtype is not None and self._integer_dtype(dtype) else None
        return NON_DIFFERENTIABLE.get(qualname)

    def _integer_dtype(self, dtype: ast.AST) -> bool:
        if isinstance(dtype, ast.Constant) and isinstance(dtype.value, str):
            return dtype.value in INTEGER_DTYPES
        if isinstance(dtype, ast.Name) and dtype.id in ("int", "bool") and not self.analysis.imports.is_bound(dtype.id):
            return True
        qualname = self.analysis.qualname(dtype) or ""
        return qualname.startswith(("tensorflow.", "numpy.", "keras.")) and qualname.rsplit(".", 1)[-1] in INTEGER_DTYPES


def _cut_inputs(call: ast.Call) -> list[ast.AST]:
    """The arguments whose gradient the op drops: the tensor given to it (`inp` for py_function)."""
    args = list(call.args)
    if keyword_argument(call, "inp") is not None:
        return [keyword_argument(call, "inp")]
    name = dotted(call.func) or ""
    if name.endswith(("py_function", "numpy_function", "py_func")):
        return args[1:2]
    first = keyword_argument(call, "x") or keyword_argument(call, "input") or keyword_argument(call, "indices")
    return args[:1] or ([first] if first is not None else [])
