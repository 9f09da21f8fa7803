"""Property tests: every numpy -> TF translation gives numpy's values and shape.

For each table entry, hypothesis draws shapes, dtypes and call forms, the numpy source is
evaluated with numpy, its translation with TensorFlow, and the results are compared.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given, note, reject, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradfix.numpy_to_tf import (KERAS_OPS_FUNCTIONS, MAPPED_FUNCTIONS, CallText, Translation, TranslationContext,
                                 translate)

pytestmark = pytest.mark.tf

FLOATS = (np.float32, np.float64)
NUMBERS = FLOATS + (np.int32, np.int64)


@dataclass(frozen=True)
class Domain:
    """Which values to draw: a range, optionally kept away from zero or rich in .5 ties."""

    low: float = -10
    high: float = 10
    dtypes: tuple[type, ...] = FLOATS
    nonzero: bool = False
    halves: bool = False

    def elements(self, dtype: type) -> st.SearchStrategy:
        if np.issubdtype(dtype, np.integer):
            values = st.integers(int(self.low), int(self.high))
        else:
            width = 32 if dtype == np.float32 else 64
            bounds = (float(np.dtype(dtype).type(bound)) for bound in (self.low, self.high))
            # TF CPU kernels flush subnormals to zero: np.sign(1e-39) is 1, tf.math.sign gives 0.
            values = st.floats(*bounds, width=width, allow_subnormal=False)
            if self.halves:
                values = values | st.integers(int(2 * self.low), int(2 * self.high)).map(lambda twice: twice / 2)
        return values.filter(lambda value: abs(value) >= 0.1) if self.nonzero else values


@dataclass(frozen=True)
class Case:
    source: str
    arrays: dict[str, np.ndarray]
    unknown_rank: frozenset[str] = field(default_factory=frozenset)
    same_dtype: bool = True  # False where numpy itself widens float32 (np.dot with a Python number)


@dataclass(frozen=True)
class Spec:
    function: str
    draw: Callable[[st.DataObject, str], Case]


# --------------------------------------------------------------------------- drawing helpers


def _shape(data: st.DataObject, min_dims: int = 0, max_dims: int = 3) -> tuple[int, ...]:
    return data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=4))


def _array(data: st.DataObject, dtype: type, shape: tuple[int, ...], domain: Domain) -> np.ndarray:
    return data.draw(hnp.arrays(dtype, shape, elements=domain.elements(dtype)))


def _dtype(data: st.DataObject, domain: Domain) -> type:
    return data.draw(st.sampled_from(domain.dtypes))


def _one_of(data: st.DataObject, *options):
    return data.draw(st.sampled_from(options))


def _maybe_unknown(data: st.DataObject, *names: str) -> frozenset[str]:
    """Hide some ranks from rank_of, as when the caller cannot infer them."""
    return frozenset(name for name in names if data.draw(st.booleans()))


def _call(function: str, *parts: str | None) -> str:
    return f"np.{function}({', '.join(part for part in parts if part)})"


def _keyword_or_positional(data: st.DataObject, name: str, value: str | None) -> str | None:
    """The argument as `value` or `name=value` at random (only for params numpy takes positionally there)."""
    if value is None:
        return None
    return value if data.draw(st.booleans()) else f"{name}={value}"


def _axis(data: st.DataObject, ndim: int, tuples: bool) -> str | None:
    """An axis argument's source: absent (None), 'None', an int, or a tuple of distinct axes."""
    options = [st.none(), st.just("None"), st.integers(-ndim, ndim - 1).map(str)]
    if tuples:
        axes = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
        options.append(axes.flatmap(lambda chosen: _negated_some(chosen, ndim)).map(lambda axes: str(tuple(axes))))
    return data.draw(st.one_of(options))


def _negated_some(axes: list[int], ndim: int) -> st.SearchStrategy:
    return st.tuples(*(st.sampled_from([axis, axis - ndim]) for axis in axes))


def _literal(data: st.DataObject, dtype: type, domain: Domain) -> str:
    value = data.draw(domain.elements(dtype))
    return repr(int(value) if np.issubdtype(dtype, np.integer) else float(value))


# --------------------------------------------------------------------------- case builders


def elementwise(
    domain: Domain, second: Domain | None = None, no_ops: tuple[str, ...] = ("out=None", "where=True")
) -> Callable[[st.DataObject, str], Case]:
    """Unary ufuncs when `second` is None; binary ones broadcast two arrays or an array and a number."""

    def draw(data: st.DataObject, function: str) -> Case:
        dtype = _dtype(data, domain)
        no_op = _one_of(data, None, *no_ops)
        if second is None:
            return Case(_call(function, "a", no_op), {"a": _array(data, dtype, _shape(data), domain)})
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
        a = _array(data, dtype, shapes[0], domain)
        if data.draw(st.booleans()):
            number = _literal(data, dtype, second)
            number_first = function != "power" and data.draw(st.booleans())  # np.maximum(0, h); 0 ** -1 raises
            operands = (number, "a") if number_first else ("a", number)
            return Case(_call(function, *operands, no_op), {"a": a})
        return Case(_call(function, "a", "b", no_op), {"a": a, "b": _array(data, dtype, shapes[1], second)})

    return draw


def reduction(domain: Domain, no_ops: tuple[str, ...] = ("out=None",)) -> Callable[[st.DataObject, str], Case]:
    def draw(data: st.DataObject, function: str) -> Case:
        a = _array(data, _dtype(data, domain), _shape(data, min_dims=1), domain)
        axis = _keyword_or_positional(data, "axis", _axis(data, a.ndim, tuples=True))
        keepdims = _one_of(data, None, "keepdims=True", "keepdims=False")
        return Case(_call(function, "a", axis, keepdims, _one_of(data, None, *no_ops)), {"a": a})

    return draw


def along_one_axis(domain: Domain, no_ops: tuple[str, ...]) -> Callable[[st.DataObject, str], Case]:
    """argmax/argmin/cumsum/cumprod: one int axis, or none (numpy flattens)."""

    def draw(data: st.DataObject, function: str) -> Case:
        a = _array(data, _dtype(data, domain), _shape(data, min_dims=1), domain)
        axis = _keyword_or_positional(data, "axis", _axis(data, a.ndim, tuples=False))
        return Case(_call(function, "a", axis, _one_of(data, None, *no_ops)), {"a": a}, _maybe_unknown(data, "a"))

    return draw


def joined(data: st.DataObject, function: str) -> Case:
    """np.concatenate / np.stack of one to three arrays, as a list or a tuple."""
    dtype = _dtype(data, Domain(dtypes=NUMBERS))
    shape = _shape(data, min_dims=1)
    ndim = len(shape) + (function == "stack")
    axis = data.draw(st.none() | st.integers(-ndim, ndim - 1))
    count = data.draw(st.integers(1, 3))
    arrays = {}
    for index in range(count):
        sides = list(shape)
        if function == "concatenate" and axis is not None:
            sides[axis] = data.draw(st.integers(1, 3))
        arrays[f"a{index}"] = _array(data, dtype, tuple(sides), Domain(dtypes=NUMBERS))
    sequence = "[{}]" if data.draw(st.booleans()) else "({},)"
    values = sequence.format(", ".join(arrays))
    axis_source = None if axis is None else _keyword_or_positional(data, "axis", str(axis))
    return Case(_call(function, values, axis_source, _one_of(data, None, "out=None")), arrays)


def reshaped(data: st.DataObject, function: str) -> Case:
    a = _array(data, _dtype(data, Domain(dtypes=NUMBERS)), _shape(data), Domain(dtypes=NUMBERS))
    shapes = ["-1", "(-1,)", f"({a.size},)", "(1, -1)", str(tuple(reversed(a.shape))), str(a.shape)]
    if a.ndim:
        shapes.append(f"(-1, {a.shape[-1]})")
    shape = _keyword_or_positional(data, "shape", data.draw(st.sampled_from(shapes)))
    return Case(_call(function, "a", shape, _one_of(data, None, "order='C'")), {"a": a})


def transposed(data: st.DataObject, function: str) -> Case:
    a = _array(data, _dtype(data, Domain(dtypes=NUMBERS)), _shape(data, min_dims=1), Domain(dtypes=NUMBERS))
    permutation = data.draw(st.permutations(range(a.ndim)).flatmap(lambda axes: _negated_some(axes, a.ndim)))
    axes = _one_of(data, None, "None", str(tuple(permutation)))
    return Case(_call(function, "a", _keyword_or_positional(data, "axes", axes)), {"a": a})


def expanded(data: st.DataObject, function: str) -> Case:
    a = _array(data, _dtype(data, Domain(dtypes=NUMBERS)), _shape(data), Domain(dtypes=NUMBERS))
    axis = str(data.draw(st.integers(-a.ndim - 1, a.ndim)))
    return Case(_call(function, "a", _keyword_or_positional(data, "axis", axis)), {"a": a})


def squeezed(data: st.DataObject, function: str) -> Case:
    shape = tuple(data.draw(st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4)))
    a = _array(data, _dtype(data, Domain(dtypes=NUMBERS)), shape, Domain(dtypes=NUMBERS))
    ones = [axis for axis, side in enumerate(shape) if side == 1]
    chosen = data.draw(st.lists(st.sampled_from(ones), unique=True)) if ones else []
    axes = [data.draw(st.sampled_from([axis, axis - a.ndim])) for axis in chosen]
    axis = _one_of(data, None, *([str(axes[0]), str(tuple(axes))] if axes else []))
    return Case(_call(function, "a", _keyword_or_positional(data, "axis", axis)), {"a": a})


def clipped(data: st.DataObject, function: str) -> Case:
    """Number bounds in either order (numpy then returns a_max), or arrays that broadcast `a` up."""
    domain = Domain(dtypes=NUMBERS)
    dtype = _dtype(data, domain)
    names = _one_of(data, ("a_min", "a_max"), ("min", "max"))
    if data.draw(st.booleans()):
        shapes = [_shape(data)]
        bounds = [_literal(data, dtype, domain), _literal(data, dtype, domain)]
    else:
        shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4)).input_shapes
        bounds = ["low", "high"]
    arrays = {name: _array(data, dtype, shape, domain) for name, shape in zip(("a", "low", "high"), shapes)}
    if data.draw(st.booleans()):
        return Case(_call(function, "a", *bounds), arrays)
    return Case(_call(function, "a", *(f"{name}={bound}" for name, bound in zip(names, bounds))), arrays)


def selected(data: st.DataObject, function: str) -> Case:
    domain = Domain(dtypes=NUMBERS)
    dtype = _dtype(data, domain)
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=4)).input_shapes
    arrays = {"condition": data.draw(hnp.arrays(np.bool_, shapes[0]))}
    branches = []
    for name, shape in zip(("x", "y"), shapes[1:]):
        if data.draw(st.booleans()):
            branches.append(_literal(data, dtype, domain))
        else:
            arrays[name] = _array(data, dtype, shape, domain)
            branches.append(name)
    return Case(_call(function, "condition", *branches), arrays)


def like(data: st.DataObject, function: str) -> Case:
    a = _array(data, _dtype(data, Domain(dtypes=NUMBERS)), _shape(data), Domain(dtypes=NUMBERS))
    dtype = _one_of(data, None, "np.float32", "np.float64", "np.int32", "np.bool_", "'float16'", "float", "int")
    no_op = _one_of(data, None, "order='K'", "subok=True", "shape=None")
    return Case(_call(function, "a", _keyword_or_positional(data, "dtype", dtype), no_op), {"a": a})


def normed(data: st.DataObject, function: str) -> Case:
    """ord=None over any axes; with an order, vector norms (one axis, or a vector) p > 0 and inf, matrix norms
    (an axis pair, or a matrix) 'fro', 1, 2 and inf."""
    a = _array(data, _dtype(data, Domain()), _shape(data, min_dims=1), Domain())
    axes = [None, "None", str(data.draw(st.integers(-a.ndim, a.ndim - 1)))]
    if a.ndim >= 2:
        pair = data.draw(st.lists(st.integers(0, a.ndim - 1), min_size=2, max_size=2, unique=True))
        axes.append(str(tuple(pair)))
    axis = _one_of(data, *axes)
    keepdims = _one_of(data, None, "keepdims=True", "keepdims=False")
    matrix = axis is not None and axis.startswith("(") or axis in (None, "None") and a.ndim == 2
    vector = axis is not None and axis.lstrip("-").isdigit() or axis in (None, "None") and a.ndim == 1
    orders = [None, "ord=None"] + (["ord='fro'", "ord=1", "ord=2", "ord=np.inf"] if matrix else []) \
        + (["ord=1", "ord=2", "ord=3", "ord=0.5", "ord=np.inf"] if vector else [])
    return Case(_call(function, "a", _one_of(data, *orders), axis and f"axis={axis}", keepdims), {"a": a})


def dotted(data: st.DataObject, function: str) -> Case:
    """np.dot where rank(b) <= 2: scalars (arrays or number literals), vectors, matrices, batches of a."""
    domain = Domain(dtypes=NUMBERS)
    dtype = _dtype(data, domain)
    rank_a, rank_b = data.draw(st.integers(0, 3)), data.draw(st.integers(0, 2))
    inner = data.draw(st.integers(1, 4))
    if rank_a == 0 or rank_b == 0:
        shape_a, shape_b = _shape(data, rank_a, rank_a), _shape(data, rank_b, rank_b)
    else:
        shape_a = _shape(data, rank_a - 1, rank_a - 1) + (inner,)
        shape_b = (inner,) + _shape(data, rank_b - 1, rank_b - 1)
    arrays = {"a": _array(data, dtype, shape_a, domain), "b": _array(data, dtype, shape_b, domain)}
    operands = []
    for name in ("a", "b"):
        if arrays[name].ndim == 0 and data.draw(st.booleans()):
            operands.append(_literal(data, dtype, domain))
            del arrays[name]
        else:
            operands.append(name)
    # An unknown rank of a is translated as if a were not a scalar (TF then raises for a scalar).
    unknown = _maybe_unknown(data, "a") if rank_a else frozenset()
    return Case(_call(function, *operands), arrays, unknown, same_dtype=operands == ["a", "b"])


def matrix_product(data: st.DataObject, function: str) -> Case:
    """Either both operands of rank >= 2 with broadcast batch dims, or b of rank 1-2 and any a."""
    domain = Domain(dtypes=NUMBERS)
    dtype = _dtype(data, domain)
    inner = data.draw(st.integers(1, 4))
    if data.draw(st.booleans()):
        batch = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
        shape_a = batch[0] + (data.draw(st.integers(1, 4)), inner)
        shape_b = batch[1] + (inner, data.draw(st.integers(1, 4)))
        unknown = frozenset()
    else:
        shape_a = _shape(data, 0, 3) + (inner,)
        shape_b = (inner,) + _shape(data, 0, 1)
        unknown = _maybe_unknown(data, "a")
    arrays = {"a": _array(data, dtype, shape_a, domain), "b": _array(data, dtype, shape_b, domain)}
    return Case(_call(function, "a", "b"), arrays, unknown)


def tensordotted(data: st.DataObject, function: str) -> Case:
    domain = Domain(dtypes=NUMBERS)
    dtype = _dtype(data, domain)
    if data.draw(st.booleans()):
        count = data.draw(st.integers(0, 2))
        contracted = _shape(data, count, count)
        shape_a, shape_b = _shape(data, 0, 2) + contracted, contracted + _shape(data, 0, 2)
        axes = None if count == 2 and data.draw(st.booleans()) else str(count)
    else:
        shape_a, shape_b = _shape(data, 1, 3), _shape(data, 1, 3)
        index_a, index_b = data.draw(st.integers(0, len(shape_a) - 1)), data.draw(st.integers(0, len(shape_b) - 1))
        shape_b = shape_b[:index_b] + (shape_a[index_a],) + shape_b[index_b + 1 :]
        axes = _one_of(data, f"({index_a}, {index_b})", f"([{index_a}], [{index_b}])")
    arrays = {"a": _array(data, dtype, shape_a, domain), "b": _array(data, dtype, shape_b, domain)}
    return Case(_call(function, "a", "b", _keyword_or_positional(data, "axes", axes)), arrays)


EINSUM_SUBSCRIPTS = [
    "ij,jk->ik",
    "i,i->",
    "ij->ji",
    "ii->i",
    "ij,j",
    "i,j->ij",
    "ij->",
    "bij,bjk->bik",
    "...ij,jk->...ik",
    "...ij,jk",
    "...i,...i->...",
    "i...,i->...",
]


def einsummed(data: st.DataObject, function: str) -> Case:
    subscripts = data.draw(st.sampled_from(EINSUM_SUBSCRIPTS))
    sides = {label: data.draw(st.integers(1, 4)) for label in "bijk"}
    batches = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    dtype = _dtype(data, Domain())
    arrays = {}
    for index, labels in enumerate(subscripts.split("->")[0].split(",")):
        before, ellipsis, after = labels.partition("...")
        shape = tuple(sides[label] for label in before) + (batches[index] if ellipsis else ()) \
            + tuple(sides[label] for label in after)
        arrays[f"a{index}"] = _array(data, dtype, shape, Domain())
    optimize = _one_of(data, None, "optimize=True", "optimize=False")
    return Case(_call(function, repr(subscripts), *arrays, optimize), arrays)


def taken(data: st.DataObject, function: str) -> Case:
    """Non-negative int literals (tf.gather), or an index array with negative entries (keras.ops.take)."""
    domain = Domain(dtypes=NUMBERS)
    a = _array(data, _dtype(data, domain), _shape(data, min_dims=1), domain)
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1))
    size = a.size if axis is None else a.shape[axis]
    arrays = {"a": a}
    if data.draw(st.booleans()):
        indices = data.draw(st.integers(0, size - 1).map(str)
                            | st.lists(st.integers(0, size - 1), min_size=1, max_size=4).map(str))
    else:
        index_shape = _shape(data, 0, 2)
        arrays["indices"] = data.draw(hnp.arrays(np.int32, index_shape, elements=st.integers(-size, size - 1)))
        indices = "indices"
    axis_source = None if axis is None else _keyword_or_positional(data, "axis", str(axis))
    return Case(_call(function, "a", indices, axis_source, _one_of(data, None, "mode='raise'")), arrays)


def split_up(data: st.DataObject, function: str) -> Case:
    """Equal sections (a divisor of the side), or ascending cut indices within the side."""
    domain = Domain(dtypes=NUMBERS)
    a = _array(data, _dtype(data, domain), _shape(data, min_dims=1), domain)
    axis = data.draw(st.none() | st.integers(-a.ndim, a.ndim - 1))
    side = a.shape[axis or 0]
    if data.draw(st.booleans()):
        sections = str(data.draw(st.sampled_from([d for d in range(1, side + 1) if side % d == 0])))
    else:
        cuts = sorted(data.draw(st.lists(st.integers(0, side), min_size=1, max_size=3)))
        sections = str(cuts) if data.draw(st.booleans()) else str(tuple(cuts))
    axis_source = None if axis is None else _keyword_or_positional(data, "axis", str(axis))
    return Case(_call(function, "a", sections, axis_source), {"a": a})


def sorted_along(data: st.DataObject, function: str) -> Case:
    domain = Domain(dtypes=NUMBERS)
    a = _array(data, _dtype(data, domain), _shape(data, min_dims=1), domain)
    axis = _one_of(data, None, "None", str(data.draw(st.integers(-a.ndim, a.ndim - 1))))
    kind = _one_of(data, None, "kind='stable'", "kind='quicksort'")
    return Case(_call(function, "a", _keyword_or_positional(data, "axis", axis), kind), {"a": a},
                _maybe_unknown(data, "a"))


# --------------------------------------------------------------------------- the specs

ANYWHERE = Domain()
SIGNED = Domain(dtypes=NUMBERS)
# numpy multiplies int32 in int64 while TF overflows in int32, so products are drawn as int64.
SMALL = Domain(-2, 2, dtypes=FLOATS + (np.int64,))
UNARY_DOMAINS = {
    "exp": Domain(-5, 5),
    "expm1": Domain(-5, 5),
    "log": Domain(0.1, 10),
    "log1p": Domain(-0.9, 10),
    "sqrt": Domain(0, 10),
    "reciprocal": Domain(nonzero=True),
    "tan": Domain(-1.4, 1.4),
    "square": SIGNED,
    "abs": SIGNED,
    "absolute": SIGNED,
    "negative": SIGNED,
    "sign": SIGNED,
    "floor": Domain(halves=True),
    "ceil": Domain(halves=True),
    **{name: ANYWHERE for name in ("tanh", "sin", "cos", "arctan")},
}
BINARY_DOMAINS = {
    **{name: (SIGNED, SIGNED) for name in ("add", "subtract", "multiply", "maximum", "minimum")},
    **{name: (SIGNED, Domain(dtypes=NUMBERS, nonzero=True)) for name in ("divide", "true_divide")},
    "power": (Domain(0.1, 3), Domain(-2, 2)),
}
SPECS = [
    *(Spec(name, elementwise(domain)) for name, domain in UNARY_DOMAINS.items()),
    *(Spec(name, elementwise(first, second)) for name, (first, second) in BINARY_DOMAINS.items()),
    Spec("power", elementwise(Domain(-3, 3, dtypes=(np.int32, np.int64)), Domain(0, 3, dtypes=(np.int32, np.int64)))),
    *(Spec(name, elementwise(Domain(halves=True), no_ops=("out=None", "decimals=0"))) for name in ("round", "around")),
    Spec("sum", reduction(SIGNED, ("out=None", "dtype=None", "where=True"))),
    Spec("prod", reduction(SMALL, ("dtype=None",))),
    Spec("mean", reduction(ANYWHERE, ("out=None", "dtype=None"))),
    *(Spec(name, reduction(SIGNED, ("out=None", "where=True"))) for name in ("max", "amax", "min", "amin")),
    *(Spec(name, reduction(ANYWHERE, ("ddof=0", "out=None"))) for name in ("std", "var")),
    *(Spec(name, along_one_axis(SIGNED, ("out=None", "keepdims=False"))) for name in ("argmax", "argmin")),
    Spec("cumsum", along_one_axis(SIGNED, ("out=None", "dtype=None"))),
    Spec("cumprod", along_one_axis(SMALL, ("out=None",))),
    Spec("concatenate", joined),
    Spec("stack", joined),
    Spec("reshape", reshaped),
    Spec("transpose", transposed),
    Spec("expand_dims", expanded),
    Spec("squeeze", squeezed),
    Spec("clip", clipped),
    Spec("where", selected),
    Spec("zeros_like", like),
    Spec("ones_like", like),
    Spec("linalg.norm", normed),
    Spec("dot", dotted),
    Spec("matmul", matrix_product),
    Spec("tensordot", tensordotted),
    Spec("einsum", einsummed),
    Spec("take", taken),
    Spec("split", split_up),
    Spec("sort", sorted_along),
]


def test_every_mapped_function_has_a_property_test():
    assert {spec.function for spec in SPECS} == MAPPED_FUNCTIONS


# --------------------------------------------------------------------------- the property


def _context(arrays: dict[str, np.ndarray], unknown_rank: frozenset[str] = frozenset(), tf_name: str | None = "tf",
             numpy_ops: str | None = "keras.ops") -> TranslationContext:
    def qualname(code: str) -> str | None:
        return "numpy." + code.removeprefix("np.") if code.startswith("np.") else None

    def rank_of(code: str) -> int | None:
        if code in arrays and code not in unknown_rank:
            return arrays[code].ndim
        return None

    return TranslationContext(tf=tf_name, qualname=qualname, rank_of=rank_of, numpy_ops=numpy_ops)


def _translate(function: str, source: str, arrays: dict[str, np.ndarray], unknown_rank=frozenset(),
               **context) -> Translation:
    return translate(function, CallText.parse(source), _context(arrays, unknown_rank, **context))


def _assert_same_result(expected, actual, exact_dtype: bool) -> None:
    if isinstance(expected, list):  # np.split
        assert isinstance(actual, list) and len(actual) == len(expected)
        for one, other in zip(expected, actual):
            _assert_same_result(one, other, exact_dtype)
        return
    expected, actual = np.asarray(expected), np.asarray(actual)
    assert actual.shape == expected.shape
    if exact_dtype:
        assert actual.dtype == expected.dtype
    else:  # numpy widens integer sums and products to int64; TF keeps the input dtype
        assert actual.dtype.kind == expected.dtype.kind
    if np.float32 in (expected.dtype, actual.dtype):
        np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


def _check(case: Case, translation: Translation | None) -> None:
    """The translation runs eagerly and under tf.function, and gives numpy's values, shape and dtype."""
    assert translation is not None and translation.replacement is not None, (case.source, translation)
    rendered = translation.replacement
    note(f"{case.source}  ->  {rendered}")

    expected = eval(case.source, {"np": np, **case.arrays})
    tensors = {name: tf.constant(array) for name, array in case.arrays.items()}
    names = {"tf": tf, "keras": keras, "np": np}
    actual = eval(rendered, {**names, **tensors})
    inputs_are_float = all(np.issubdtype(array.dtype, np.floating) for array in case.arrays.values())
    _assert_same_result(expected, actual, exact_dtype=inputs_are_float and case.same_dtype)
    # in a graph (fit, tf.function) TF infers dtypes from the first argument: `tf.math.maximum(0, h)` fails there
    traced = tf.function(lambda tensors: eval(rendered, {**names, **tensors}), autograph=False)(tensors)
    _assert_same_result(expected, traced, exact_dtype=inputs_are_float and case.same_dtype)


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.function)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_translation_matches_numpy(spec: Spec, data: st.DataObject):
    case = spec.draw(data, spec.function)
    _check(case, _translate(spec.function, case.source, case.arrays, case.unknown_rank))


KERAS_SPECS = [spec for spec in SPECS if spec.function in KERAS_OPS_FUNCTIONS]


def test_keras_ops_cover_the_table_but_argmax_and_argmin():
    assert MAPPED_FUNCTIONS - KERAS_OPS_FUNCTIONS == {"argmax", "argmin"}  # keras.ops: int32 indices


@pytest.mark.parametrize("spec", KERAS_SPECS, ids=lambda spec: spec.function)
@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_keras_ops_translation_matches_numpy(spec: Spec, data: st.DataObject):
    """A file without TensorFlow (backend-agnostic Keras 3) gets keras.ops only, and numpy's results. keras.ops
    makes a Python float a float32 before it meets a float64 array (numpy keeps it exact): those calls are
    refused in files (codemods/_numpy_calls.py: keras_ops_blocker), so they are not drawn here."""
    case = spec.draw(data, spec.function)
    assume(not (re.search(r"\d\.\d", case.source) and any(a.dtype == np.float64 for a in case.arrays.values())))
    translation = _translate(spec.function, case.source, case.arrays, case.unknown_rank, tf_name=None)
    assert translation is not None, case.source
    if translation.replacement is None:  # keras.ops has no exact form (norm of every axis of rank > 2 + keepdims)
        assert translation.note, case.source
        reject()  # an honest refusal, with its reason: nothing is rewritten, nothing to compare
    assert "tf." not in translation.replacement
    _check(case, translation)


def _contracted(data: st.DataObject, function: str) -> Case:
    """np.dot / np.matmul of any rank pair numpy accepts (0-4; matmul: 1-4), batch dims broadcast."""
    dtype = _dtype(data, Domain())
    low = 1 if function == "matmul" else 0
    rank_a, rank_b = data.draw(st.integers(low, 4)), data.draw(st.integers(low, 4))
    inner = data.draw(st.integers(1, 3))
    if rank_a == 0 or rank_b == 0:
        shape_a, shape_b = _shape(data, rank_a, rank_a), _shape(data, rank_b, rank_b)
    elif function == "dot":
        shape_a = _shape(data, rank_a - 1, rank_a - 1) + (inner,)
        shape_b = _shape(data, rank_b - 2, rank_b - 2) + (inner,) + _shape(data, 1, 1) if rank_b >= 2 else (inner,)
    else:
        batch = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
        shape_a = (batch[0][-(rank_a - 2):] if rank_a > 2 else ()) + _shape(data, min(rank_a - 1, 1), 1) + (inner,)
        shape_b = (batch[1][-(rank_b - 2):] if rank_b > 2 else ()) + (inner,) + _shape(data, min(rank_b - 1, 1), 1)
    arrays = {"a": _array(data, dtype, shape_a, Domain()), "b": _array(data, dtype, shape_b, Domain())}
    return Case(_call(function, "a", "b"), arrays, frozenset(arrays))


@pytest.mark.parametrize("namespace", ["keras.ops", "tf.experimental.numpy"])
@pytest.mark.parametrize("function", ["dot", "matmul"])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_dot_and_matmul_of_unknown_rank_go_numpy_compatible(namespace: str, function: str, data: st.DataObject):
    """Ranks hidden from the translation: the NumPy-compatible op equals numpy for every rank pair, with no
    global switch (tnp.experimental_enable_numpy_behavior would give tensors ndarray methods)."""
    assert not hasattr(tf.constant(0.0), "reshape"), "NumPy behaviour was switched on globally"
    case = _contracted(data, function)
    translation = _translate(function, case.source, case.arrays, case.unknown_rank, numpy_ops=namespace)
    assert translation.replacement.startswith(f"{namespace}.{function}("), translation
    _check(case, translation)


# --------------------------------------------------------------------------- forms without a fix

RANK_2 = {"w": np.zeros((3, 4)), "v": np.zeros(3), "t3": np.zeros((2, 3, 4))}


@pytest.mark.parametrize(
    ("function", "source"),
    [
        ("dot", "np.dot(x, y)"),  # rank of b unknown (and no NumPy-compatible namespace here)
        ("dot", "np.dot(x, t3)"),  # rank of b > 2
        ("dot", "np.dot(x, w, out=buffer)"),
        ("matmul", "np.matmul(x, y)"),
        ("matmul", "np.matmul(v, t3)"),  # numpy promotes the vector; tf.linalg.matmul rejects it
        ("where", "np.where(condition)"),
        ("clip", "np.clip(x, None, 1.0)"),
        ("clip", "np.clip(x, a_min=0.0)"),
        ("concatenate", "np.concatenate([x, y], axis=None)"),
        ("sum", "np.sum(x, out=buffer)"),
        ("sum", "np.sum(x, axis=0, dtype=np.float64)"),
        ("sum", "np.sum(x, initial=1.0)"),
        ("add", "np.add(x, y, where=mask)"),
        ("exp", "np.exp(x, dtype=np.float64)"),
        ("exp", "np.exp(*arrays)"),
        ("std", "np.std(x, ddof=1)"),
        ("var", "np.var(x, 0, None, None, 1)"),
        ("mean", "np.mean(x, dtype=np.float64)"),
        ("mean", "np.mean([1, 2, 4])"),
        ("mean", "np.mean(x.astype(np.int32), axis=0)"),
        ("mean", "np.mean(tf.cast(x, tf.int64))"),
        ("std", "np.std(np.array(x, dtype=int))"),
        ("reshape", "np.reshape(x, (2, -1), order='F')"),
        ("reshape", "np.reshape(x, new_shape)"),  # may be an int: tf.reshape rejects it in a graph
        ("round", "np.round(x, 2)"),
        ("argmax", "np.argmax(x, axis=chosen_axis)"),  # may be None at run time: numpy flattens
        ("argmax", "np.argmax(x, axis=1, keepdims=True)"),
        ("cumsum", "np.cumsum(x, dtype=np.float64)"),
        ("expand_dims", "np.expand_dims(x, (0, 1))"),
        ("expand_dims", "np.expand_dims(x, axis)"),
        ("einsum", "np.einsum(x, [0, 1], y, [1, 2])"),
        ("linalg.norm", "np.linalg.norm(x, ord=2)"),
        ("zeros_like", "np.zeros_like(x, dtype=np.dtype('f4'))"),
        ("ones_like", "np.ones_like(x, shape=(2, 3))"),
        ("take", "np.take(w, ids, axis=0)"),  # ids may be negative: numpy wraps them, tf.gather does not
        ("take", "np.take(w, [0, -1], axis=1)"),
        ("take", "np.take(w, [0, 1], axis=chosen_axis)"),
        ("split", "np.split(w, [3, 1])"),  # descending cuts give numpy an empty piece, tf.split a negative size
        ("split", "np.split(w, sections)"),  # an int or a list of cut indices
        ("split", "np.split(w, 2, axis=chosen_axis)"),
        ("sort", "np.sort(w, axis=chosen_axis)"),
        ("linalg.norm", "np.linalg.norm(x, ord=1)"),  # vector or matrix norm: the rank decides
        ("linalg.norm", "np.linalg.norm(w, ord='nuc')"),
        ("linalg.norm", "np.linalg.norm(w, ord=-np.inf)"),
        ("linalg.norm", "np.linalg.norm(v, ord=0)"),
        ("linalg.norm", "np.linalg.norm(v, ord='fro')"),
        ("linalg.norm", "np.linalg.norm(w, ord=p, axis=1)"),
        ("argsort", "np.argsort(x, axis=-1)"),
        ("nonzero", "np.nonzero(x)"),
        ("searchsorted", "np.searchsorted(edges, x)"),
    ],
)
def test_call_forms_without_exact_equivalent_get_no_fix_and_a_note(function: str, source: str):
    translation = _translate(function, source, RANK_2, numpy_ops=None)
    assert translation is not None
    assert translation.replacement is None
    assert translation.note


@pytest.mark.parametrize(("function", "source"), [
    ("take", "np.take(w, ids, axis=0)"), ("split", "np.split(w, sections)"), ("sort", "np.sort(w, axis=chosen)"),
    ("argmax", "np.argmax(w, axis=-1)"), ("clip", "np.clip(x, None, 1.0)"), ("argsort", "np.argsort(x)"),
])
def test_numpy_compatible_namespaces_take_only_what_they_compute_as_numpy(function: str, source: str):
    """tf.experimental.numpy is used for dot and matmul only (its take clips negative indices); a file without
    TensorFlow has no fix where keras.ops differs from numpy (argmax gives int32) or has no exact form."""
    if function in ("argmax", "clip", "argsort"):
        assert _translate(function, source, RANK_2, tf_name=None).replacement is None
    else:
        assert _translate(function, source, RANK_2, numpy_ops="tf.experimental.numpy").replacement is None
        assert _translate(function, source, RANK_2).replacement.startswith(f"keras.ops.{function}(")


def test_a_file_without_tensorflow_and_without_keras_ops_gets_no_fix():
    translation = _translate("exp", "np.exp(x)", RANK_2, tf_name=None, numpy_ops=None)
    assert translation.replacement is None and "backend-agnostic" in translation.note


def test_dot_with_rank_3_b_explains_the_contraction():
    translation = _translate("dot", "np.dot(x, t3)", RANK_2, numpy_ops=None)
    assert translation.replacement is None
    assert "second-to-last" in translation.note


def test_numpy_dot_with_rank_3_b_really_differs_from_tensordot_axes_1():
    a, b = np.ones((2, 3)), np.ones((4, 3, 5))
    assert np.dot(a, b).shape == (2, 4, 5)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        tf.tensordot(tf.constant(a), tf.constant(b), axes=1)


def test_functions_outside_the_table_are_not_translated():
    assert _translate("fft.fft", "np.fft.fft(x)", {}) is None


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("function", "source", "expected"),
    [
        ("dot", "np.dot(x, w)", "tf.tensordot(x, w, axes=1)"),
        ("dot", "dot(x, w)", "tf.tensordot(x, w, axes=1)"),
        ("dot", "onp.dot(w, w)", "tf.linalg.matmul(w, w)"),
        ("transpose", "np.transpose(x, axes=(1, 0))", "tf.transpose(x, perm=(1, 0))"),
        ("reshape", "np.reshape(x, newshape=(2, -1))", "tf.reshape(x, shape=(2, -1))"),
        ("concatenate", "np.concatenate([x, y])", "tf.concat([x, y], axis=0)"),
        ("clip", "np.clip(x, a_min=0.0, a_max=6.0)", "tf.clip_by_value(x, 0.0, 6.0)"),
        ("clip", "np.clip(x, 1, 0)", "tf.math.minimum(tf.math.maximum(x, 1), 0)"),
        ("zeros_like", "np.zeros_like(x, dtype=np.float32)", "tf.zeros_like(x, dtype=tf.float32)"),
        ("sum", "np.sum(x, 1, keepdims=True)", "tf.math.reduce_sum(x, axis=1, keepdims=True)"),
        ("std", "np.std(x, axis=-1, ddof=0)", "tf.math.reduce_std(x, axis=-1)"),
        ("argmax", "np.argmax(x)", "tf.math.argmax(tf.reshape(x, [-1]))"),
        ("tensordot", "np.tensordot(x, w)", "tf.tensordot(x, w, axes=2)"),
        ("maximum", "np.maximum(0, x)", "tf.math.maximum(x, 0)"),
        ("dot", "np.dot(0.5, x)", "tf.math.multiply(x, 0.5)"),
        ("true_divide", "np.true_divide(1, x + w)", "(1 / (x + w))"),
        ("subtract", "np.subtract(-1, x)", "((-1) - x)"),
        ("power", "np.power(2, x)", "(2 ** x)"),
        ("where", "np.where(x > 0, 0, x)", "tf.where(tf.math.logical_not(x > 0), x, 0)"),
        ("reshape", "np.reshape(x, -1)", "tf.reshape(x, shape=(-1,))"),
    ],
)
def test_rendering(function: str, source: str, expected: str):
    translation = _translate(function, source, RANK_2)
    assert translation.replacement == expected


def test_user_arguments_keep_their_comments_and_layout():
    source = "np.sum(\n    x * w,  # scaled\n    1,\n    out=None,  # no buffer\n)"
    translation = _translate("sum", source, RANK_2)
    assert translation.replacement == "tf.math.reduce_sum(\n    x * w,  # scaled\n    axis=1,  # no buffer\n)"


def test_tf_alias_is_used_for_every_emitted_name():
    context = TranslationContext(tf="tensorflow", qualname=lambda expr: None, rank_of=lambda expr: 1)
    translation = translate("argmax", CallText.parse("np.argmax(v)"), context)
    assert translation.replacement == "tensorflow.math.argmax(v)"


@pytest.mark.parametrize("function", ["argmax", "argmin", "floor", "ceil", "round", "around"])
def test_non_differentiable_translations_say_so(function: str):
    translation = _translate(function, f"np.{function}(v)", RANK_2)
    assert translation.replacement is not None
    assert "not differentiable" in translation.note


@pytest.mark.parametrize("axis", ["(1, 0)", "(2, 0)", "(2, 1)"])
def test_keras_ops_matrix_2_norm_with_keepdims_over_a_descending_axis_pair_is_refused(axis):
    """keras.ops.norm(a, ord=2, axis=(1, 0), keepdims=True) gives shape (1, 4, 1) where numpy gives (1, 1, 4),
    and (2, 0) raises (measured, Keras 3.15, a of shape (2, 3, 4)): no keras.ops fix there."""
    source = f"np.linalg.norm(a, ord=2, axis={axis}, keepdims=True)"
    translation = _translate("linalg.norm", source, {"a": np.zeros((2, 3, 4), np.float32)}, frozenset(),
                             tf_name=None)
    assert translation.replacement is None and "descending" in translation.note
