"""GF501: a non-differentiable op (`tf.round`, `tf.argmax`, a cast to int, ...) that cuts weights off from the
layer's output or from the loss a tape differentiates. Report only: the fix is a modelling decision."""

from __future__ import annotations

import ast
from typing import Callable, Iterable, Iterator

from gradfix.analysis import KerasKind
from gradfix.analysis.tapes import bound_names, dotted, keyword_argument, own_nodes
from gradfix.analysis.tensors import SHAPE_ATTRS
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

# How a value flows through a TensorFlow / keras.ops op: through all its tensor arguments, or its first only
# (`tf.gather(params, indices)`: the indices carry no gradient). Ops in neither set stop the analysis.
ALL_ARGUMENTS = frozenset({
    "add", "subtract", "multiply", "divide", "truediv", "true_divide", "maximum", "minimum", "pow", "power",
    "matmul", "tensordot", "einsum", "concat", "concatenate", "stack", "add_n", "squared_difference",
    "divide_no_nan", "multiply_no_nan", "dot", "bias_add", "hstack", "vstack"})
FIRST_ARGUMENT = frozenset({
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_logsumexp", "reduce_std",
    "reduce_variance", "sum", "mean", "max", "min", "prod", "logsumexp", "std", "var", "reshape", "transpose",
    "expand_dims", "squeeze", "tile", "broadcast_to", "identity", "gather", "gather_nd", "take",
    "take_along_axis", "clip_by_value", "clip", "pad", "cumsum", "cumprod", "slice", "split", "unstack",
    "boolean_mask", "convert_to_tensor", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "rsqrt",
    "tanh", "sigmoid", "relu", "relu6", "gelu", "softmax", "log_softmax", "elu", "selu", "softplus", "softsign",
    "swish", "silu", "leaky_relu", "l2_normalize", "normalize", "sin", "cos", "negative", "reciprocal", "erf",
    "dropout", "repeat", "reverse", "flip", "roll", "moveaxis", "swapaxes", "flatten", "ravel", "norm",
    "l2_loss"})
WHERE_VALUES = frozenset({"where"})  # where(condition, x, y): only x and y carry gradient
VALUE_KEYWORDS = frozenset({"x", "y", "a", "b", "tensor", "input", "input_tensor", "inputs", "logits",
                            "features", "params", "value", "values", "y_pred"})
NON_VALUE_KEYWORDS = frozenset({"training", "mask", "attention_mask", "axis", "dtype", "name", "shape", "indices",
                                "depth", "keepdims", "perm", "batch_dims", "segment_ids", "seed", "rate",
                                "sample_weight", "return_dict", "output_attentions", "output_hidden_states",
                                "use_cache"})
VALUE_BUILTINS = frozenset({"sum", "max", "min", "abs"})
PYTHON_CONVERSIONS = frozenset({"float", "int", "bool", "len", "str", "range", "print", "isinstance"})


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
        for name in keras_class.forward_method_names:
            method = keras_class.methods[name]
            if any("gradient" in ast.unparse(d) for d in method.decorator_list):
                continue  # a custom gradient defines its own backward pass
            returns = [n.value for n in own_nodes(method) if isinstance(n, ast.Return) and n.value is not None]
            yield (_ValueFlow(analysis, list(own_nodes(method)), _layer_seed(keras_class), returns),
                   f"on the way from the weights to the output of {keras_class.name}.{name}")
    if "GradientTape" in analysis.source.text:
        for tape in analysis.tapes:
            if tape.owners:
                nodes = [n for statement in tape.body for n in (statement, *own_nodes(statement))]
                targets = [r.target for r in tape.requests]
                yield (_ValueFlow(analysis, nodes, _tape_seed(tape), targets),
                       f"between the model and `{analysis.segment(targets[0])}`")


def _layer_seed(keras_class) -> Callable[[ast.AST], str | None]:
    """`self.kernel` (a weight) and `self.dense(...)` (a sub-layer call) carry the layer's weights."""
    def seed(node: ast.AST) -> str | None:
        if isinstance(node, ast.Attribute) and _is_self(node.value) and node.attr in keras_class.weight_attrs:
            return f"self.{node.attr}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and _is_self(node.func.value) \
                and node.func.attr in keras_class.layer_attrs:
            return f"self.{node.func.attr}"
        return None
    return seed


def _tape_seed(tape) -> Callable[[ast.AST], str | None]:
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


class _ValueFlow:
    """Which weights each value carries gradient from (flow-insensitive, over one function's statements), and
    which values reach the sinks (returned values, a tape's targets) through gradient-carrying positions."""

    def __init__(self, analysis, nodes: list[ast.AST], seed: Callable[[ast.AST], str | None], sinks: list[ast.expr]):
        self.analysis = analysis
        self.seed = seed
        self.sinks = sinks
        self.bindings: dict[str, list[ast.AST]] = {}
        for node in nodes:
            value = _binding_value(node)
            if value is not None:
                for name in bound_names(node):
                    self.bindings.setdefault(name, []).append(value)
        self.carried: dict[str, frozenset[str]] = {}
        changed = True
        while changed:
            changed = False
            for name, values in self.bindings.items():
                seeds = frozenset().union(*(self.seeds(v) for v in values))
                if seeds != self.carried.get(name, frozenset()):
                    self.carried[name] = seeds
                    changed = True

    def seeds(self, expr: ast.AST) -> frozenset[str]:
        found = set()
        for node in self.value_nodes(expr):
            label = self.seed(node)
            if label:
                found.add(label)
            if isinstance(node, ast.Name):
                found |= self.carried.get(node.id, frozenset())
        return frozenset(found)

    def cuts(self) -> Iterator[tuple[ast.Call, str, frozenset[str]]]:
        """(op, advice, weights it cuts off) for every non-differentiable op whose result reaches a sink while
        some weights feeding it have no other route there."""
        reaching: list[ast.AST] = list(self.sinks)
        names: set[str] = set()
        cut_calls: dict[int, tuple[ast.Call, str]] = {}
        while reaching:
            for node in self.value_nodes(reaching.pop()):
                advice = self.non_differentiable(node)
                if advice:
                    cut_calls[id(node)] = (node, advice)
                elif isinstance(node, ast.Name) and node.id not in names:
                    names.add(node.id)
                    reaching.extend(self.bindings.get(node.id, []))
        if not cut_calls:
            return
        reached = frozenset().union(*(self.seeds(sink) for sink in self.sinks))
        for call, advice in sorted(cut_calls.values(), key=lambda c: (c[0].lineno, c[0].col_offset)):
            if advice is _STOP and reached:
                continue  # stop_gradient on part of the value (a straight-through estimator, a frozen weight)
            lost = frozenset().union(*(self.seeds(arg) for arg in _cut_inputs(call))) - reached
            if lost:
                yield call, advice, lost

    def value_nodes(self, expr: ast.AST) -> Iterator[ast.AST]:
        """The expression and every sub-expression whose value flows into it (stopping at non-differentiable
        ops, which are yielded but not entered)."""
        stack = [expr]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, ast.Call):
                if not self.non_differentiable(node):
                    stack.extend(self._value_arguments(node))
            else:
                stack.extend(_value_children(node))

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

    def _value_arguments(self, call: ast.Call) -> list[ast.AST]:
        func = call.func
        qualname = self.analysis.qualname(func)
        if qualname is not None:
            if qualname.startswith(("tensorflow.", "keras.ops.", "keras.activations.", "keras.backend.")):
                return self._op_arguments(call, qualname)
            if qualname.startswith("numpy."):
                return []  # GF101/GF402's business
            return _all_arguments(call)  # keras.losses.*, functions of the user's other modules
        if isinstance(func, ast.Name):
            if func.id in PYTHON_CONVERSIONS:
                return []
            return list(call.args) if func.id in VALUE_BUILTINS else _all_arguments(call)
        if isinstance(func, ast.Attribute):
            if func.attr == "numpy":
                return []
            return [func.value, *_all_arguments(call)]  # `self.dense(x)`, `outputs.to_tuple()`
        return _all_arguments(call)

    def _op_arguments(self, call: ast.Call, qualname: str) -> list[ast.AST]:
        op = qualname.rsplit(".", 1)[-1]
        keywords = [k.value for k in call.keywords if k.arg in VALUE_KEYWORDS]
        if op in ALL_ARGUMENTS:
            return [*call.args, *keywords]
        if op in WHERE_VALUES:
            return [*call.args[1:], *keywords]
        if op in FIRST_ARGUMENT or qualname in CASTS:
            return [*call.args[:1], *keywords]
        return []  # an op we do not know: stay silent rather than guess


def _all_arguments(call: ast.Call) -> list[ast.AST]:
    return [*call.args, *(k.value for k in call.keywords if k.arg not in NON_VALUE_KEYWORDS)]


def _value_children(node: ast.AST) -> Iterable[ast.AST]:
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult, ast.Pow)):
            return [node.left, node.right]
        return []
    if isinstance(node, ast.UnaryOp):
        return [node.operand] if isinstance(node.op, (ast.USub, ast.UAdd)) else []
    if isinstance(node, ast.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, ast.Attribute):
        return [] if node.attr in SHAPE_ATTRS else [node.value]
    if isinstance(node, (ast.Subscript, ast.Starred, ast.NamedExpr, ast.Await)):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return node.elts
    if isinstance(node, ast.Dict):
        return [v for v in node.values if v is not None]
    return []


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


def _binding_value(node: ast.AST) -> ast.AST | None:
    if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
        return node.value
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return node.iter
    return None
