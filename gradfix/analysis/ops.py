"""Ops without a gradient: TensorFlow returns None (not zero) for everything upstream of them."""

from __future__ import annotations

import ast
from enum import Enum


class NoGradient(str, Enum):
    """Why an op has no gradient; rules give advice per kind."""

    ROUNDING = "rounding"
    CHOICE = "choice"  # argmax/argmin/argsort/one_hot: a hard choice
    INTEGER_CAST = "integer-cast"
    PYTHON = "python"  # py_function / numpy_function: the tape cannot see inside
    COUNT = "count"  # count_nonzero, tf.where(condition): integers or indices
    STOP = "stop"  # stop_gradient: on purpose


_OP_MODULES = ("tensorflow", "tensorflow.math", "keras.ops", "keras.backend", "keras.ops.numpy")
NO_GRADIENT_OPS: dict[str, NoGradient] = {
    **{f"{m}.{op}": NoGradient.ROUNDING for m in _OP_MODULES for op in ("round", "floor", "ceil", "rint")},
    **{f"{m}.{op}": NoGradient.CHOICE for m in _OP_MODULES for op in ("argmax", "argmin", "argsort")},
    **{f"{m}.one_hot": NoGradient.CHOICE for m in ("tensorflow", "keras.ops", "keras.backend")},
    **{f"{m}.count_nonzero": NoGradient.COUNT for m in _OP_MODULES},
    "tensorflow.py_function": NoGradient.PYTHON, "tensorflow.numpy_function": NoGradient.PYTHON,
    "tensorflow.py_func": NoGradient.PYTHON,
    **{f"{m}.stop_gradient": NoGradient.STOP for m in ("tensorflow", "keras.ops", "keras.backend")},
}
CASTS = frozenset({"tensorflow.cast", "tensorflow.dtypes.cast", "keras.ops.cast", "tensorflow.saturate_cast",
                   "keras.backend.cast"})
WHERE = frozenset({"tensorflow.where", "tensorflow.compat.v1.where", "keras.ops.where"})
INTEGER_DTYPES = frozenset({"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"})
# Ops whose result is a comparison of their arguments: no gradient, and never a cut worth reporting by
# itself, but a count or a cast behind them is still computed from the compared values.
COMPARISONS = frozenset({"equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
                         "logical_or", "logical_not", "is_nan", "is_finite"})
# Ops whose results carry no gradient of their arguments that are no cut to report by themselves either: signs,
# selections of indices, comparisons (a count or cast behind them is reported).
_SILENT_NO_GRADIENT = frozenset({"sign", "top_k", "unique", "where_indices", "histogram_fixed_width"})
# The one list the value analysis reads (by an op's last name, any namespace): its results are off the path.
NON_DIFFERENTIABLE_OPS = frozenset({qualname.rsplit(".", 1)[1] for qualname in NO_GRADIENT_OPS}) | COMPARISONS \
    | _SILENT_NO_GRADIENT
# Sampling gives indices or draws: values that carry no gradient of the probabilities they were drawn from.
SAMPLING = frozenset({"tensorflow.random.categorical", "tensorflow.random.stateless_categorical",
                      "tensorflow.multinomial", "keras.random.categorical"})


def no_gradient_kind(call: ast.AST, imports) -> NoGradient | None:
    """Why the call has no gradient, if it is an op without one (a cast only to an integer or bool dtype,
    `tf.where` only with a condition alone)."""
    if not isinstance(call, ast.Call):
        return None
    qualname = imports.qualname(call.func)
    if qualname in CASTS:
        dtype = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "dtype"), None)
        return NoGradient.INTEGER_CAST if dtype is not None and _integer_dtype(dtype, imports) else None
    if qualname in WHERE:
        return NoGradient.COUNT if len(call.args) == 1 and not call.keywords else None
    return NO_GRADIENT_OPS.get(qualname)


def _integer_dtype(dtype: ast.AST, imports) -> bool:
    if isinstance(dtype, ast.Constant) and isinstance(dtype.value, str):
        return dtype.value in INTEGER_DTYPES
    if isinstance(dtype, ast.Name) and dtype.id in ("int", "bool") and not imports.is_bound(dtype.id):
        return True
    qualname = imports.qualname(dtype) or ""
    return qualname.startswith(("tensorflow.", "numpy.", "keras.")) and qualname.rsplit(".", 1)[-1] in INTEGER_DTYPES


def lambda_layer_op(call: ast.Call, imports) -> ast.Call | None:
    """`Lambda(K.cast, arguments={"dtype": "int32"})(x)` written as the op call it stands for (`K.cast(x,
    dtype="int32")`), when the Lambda wraps a TensorFlow/Keras op rather than a function of the file."""
    layer = call.func
    if not (isinstance(layer, ast.Call) and imports.qualname(layer.func) == "keras.layers.Lambda" and layer.args):
        return None
    function = layer.args[0]
    if not (imports.qualname(function) or "").startswith(("tensorflow.", "keras.")):
        return None
    extra = next((k.value for k in layer.keywords if k.arg == "arguments"), None)
    keywords = [ast.keyword(arg=k.value, value=v) for k, v in zip(extra.keys, extra.values)
                if isinstance(k, ast.Constant)] if isinstance(extra, ast.Dict) else []
    return ast.copy_location(ast.Call(func=function, args=list(call.args[:1]), keywords=keywords), call)


def layer_label(layer: ast.AST) -> str:
    """The name a layer carries in the origins of the values it makes: the dotted name it is called through
    (`self.dense`, `generator`), else its `name="..."`, else `Class:line` for an unnamed constructor call."""
    if isinstance(layer, ast.Call):
        given = next((k.value for k in layer.keywords if k.arg == "name"), None)
        if isinstance(given, ast.Constant) and isinstance(given.value, str):
            return given.value
        func = layer.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else "layer"
        return f"{name}:{layer.lineno}"
    parts = []
    while isinstance(layer, ast.Attribute):
        parts.append(layer.attr)
        layer = layer.value
    return ".".join([layer.id, *reversed(parts)]) if isinstance(layer, ast.Name) else "layer"
