"""What an expression holds at its program point: the value lattice of the one value-flow analysis
(`gradfix/analysis/flow.py`), and what TensorFlow/NumPy functions make of their arguments.

A `Value` says what kind of thing an expression is (a tensor on the gradient path, a tensor off it, a NumPy
array, a Python value, a Keras layer, unknown), its dtype and rank when the source shows them, and which
trainable things it carries gradient from (`origins`: `self.kernel`, `self.dense`, the parameter `inputs`,
`model` for a tape's model). A NumPy array computed from a tensor keeps the tensor's origins: it is the
copy through which gradients are lost, which the numpy rules look for.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Iterable


class Kind(str, Enum):
    GRADIENT = "gradient"  # a tensor that depends on trainable weights (or a tape's sources)
    TENSOR = "tensor"  # a tensor that does not (constants, shapes, indices, labels)
    NUMPY = "numpy"  # a NumPy array or scalar
    PYTHON = "python"  # a Python value: numbers, strings, shapes, config, containers of those
    LAYER = "layer"  # a Keras layer or model object: calling it gives a tensor on the gradient path
    UNKNOWN = "unknown"


TENSOR_KINDS = frozenset({Kind.GRADIENT, Kind.TENSOR})
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = FLOAT_DTYPES + INT_DTYPES + ("bool", "complex64", "complex128", "string")
# Python scalars are "weak": numpy and TF give them the other operand's dtype.
PYTHON_SCALAR_DTYPES = ("int", "float", "bool", "str")


@dataclass(frozen=True)
class Value:
    """One abstract value. `dtype` is a TF/NumPy dtype name, or for Python values `int`/`float`/`bool`/`str`;
    `rank` is the number of axes (0 for scalars); `length` the length of a Python tuple/list when known (a
    shape); `container` says the value is a list/tuple/dict of values of this kind; `function` is the
    `def`/`lambda` node a callable name stands for."""

    kind: Kind = Kind.UNKNOWN
    dtype: str | None = None
    rank: int | None = None
    origins: frozenset[str] = frozenset()
    length: int | None = None
    container: bool = False
    function: object = None  # ast.FunctionDef | ast.Lambda (object: keeps the dataclass hashable by identity)
    derived: frozenset[str] = frozenset()  # origins reached through anything (NumPy, Python, unknown calls)

    # --- questions rules ask ---------------------------------------------------------------------------
    @property
    def is_tensor(self) -> bool:
        return self.kind in TENSOR_KINDS

    @property
    def on_gradient_path(self) -> bool:
        """A tensor that carries gradient from trainable weights (or the tape's sources)."""
        return self.kind is Kind.GRADIENT

    @property
    def numpy_copy_of_gradient(self) -> bool:
        """A NumPy array computed from values on the gradient path: gradients are lost through it."""
        return self.kind is Kind.NUMPY and bool(self.derived)

    @property
    def carries_gradient(self) -> bool:
        """On the gradient path, or a NumPy copy of a value that is: what the tensor facades call a tensor."""
        return self.kind is Kind.GRADIENT or self.numpy_copy_of_gradient

    @property
    def may_carry_gradient(self) -> bool:
        """Computed from values on the gradient path by something not known to cut it (a function of the
        predictions, a NumPy or Python copy): what a tape's "depends on the sources" asks."""
        return bool(self.derived) and self.kind is not Kind.LAYER

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES or self.dtype == "float"

    @property
    def is_integer(self) -> bool:
        return self.dtype in INT_DTYPES or self.dtype in ("int", "bool")

    @property
    def is_python_scalar(self) -> bool:
        return self.kind is Kind.PYTHON and self.rank == 0 and self.dtype in PYTHON_SCALAR_DTYPES

    def element(self) -> "Value":
        """The value of one element (iterating, indexing with an int)."""
        if self.container:
            return replace(self, container=False, length=None)
        if self.kind in TENSOR_KINDS or self.kind is Kind.NUMPY:
            return replace(self, rank=None if self.rank is None else max(self.rank - 1, 0))
        if self.kind is Kind.PYTHON:
            rank = None if self.rank is None else max(self.rank - 1, 0)
            return Value(Kind.PYTHON, self.dtype if self.rank else None, rank)
        return replace(self, length=None)

    def off_path(self) -> "Value":
        """The same value with no gradient: a tensor off the path, a NumPy/Python copy with no origins."""
        kind = Kind.TENSOR if self.kind is Kind.GRADIENT else self.kind
        return replace(self, kind=kind, origins=frozenset(), derived=frozenset())

    def join(self, other: "Value") -> "Value":
        """What a name may hold after two paths meet (if/else, loop iterations, several call sites)."""
        if self == other:
            return self
        kinds = {self.kind, other.kind}
        if kinds <= TENSOR_KINDS:
            kind = Kind.GRADIENT if Kind.GRADIENT in kinds else Kind.TENSOR
        elif len(kinds) == 1:
            kind = self.kind
        else:
            kind = Kind.UNKNOWN
        return Value(kind,
                     self.dtype if self.dtype == other.dtype else None,
                     self.rank if self.rank == other.rank else None,
                     self.origins | other.origins,
                     self.length if self.length == other.length else None,
                     self.container and other.container,
                     self.function if self.function is other.function else None,
                     self.derived | other.derived)


_VALUE_FIELDS = frozenset(f.name for f in dataclasses.fields(Value))


def replace(value, /, **changes):
    """`dataclasses.replace`, several times faster for a Value (the analysis makes about 10^5 of them; the
    generic one looks up the fields each time)."""
    if type(value) is not Value:
        return dataclasses.replace(value, **changes)
    if not _VALUE_FIELDS.issuperset(changes):
        raise TypeError(f"Value has no field {', '.join(sorted(set(changes) - _VALUE_FIELDS))}")
    new = object.__new__(Value)
    new.__dict__.update(value.__dict__)
    new.__dict__.update(changes)
    return new


UNKNOWN = Value()
PYTHON = Value(Kind.PYTHON)
NONE = Value(Kind.PYTHON, "none", 0)


def python_scalar(value: object) -> Value:
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return Value(Kind.PYTHON, name, 0)
    return NONE if value is None else PYTHON


def join_all(values: Iterable[Value], empty: Value = UNKNOWN) -> Value:
    result = None
    for value in values:
        result = value if result is None else result.join(value)
    return empty if result is None else result


def combine(values: list[Value]) -> Value:
    """The value of arithmetic on `values` (operators, element-wise functions): a tensor if any operand is one,
    else NumPy if any is, else Python; dtype promoted, rank broadcast, origins united."""
    kinds = {v.kind for v in values}
    derived = frozenset().union(*(v.derived | v.origins for v in values)) if values else frozenset()
    # gradient flows only through TensorFlow: a NumPy/Python operand brings none back
    origins = frozenset().union(*(v.origins for v in values if v.kind not in (Kind.NUMPY, Kind.PYTHON)))
    if kinds & TENSOR_KINDS:
        kind = Kind.GRADIENT if origins else Kind.TENSOR
    elif Kind.NUMPY in kinds:
        kind = Kind.NUMPY if kinds <= {Kind.NUMPY, Kind.PYTHON} else Kind.UNKNOWN
    elif kinds == {Kind.PYTHON}:
        kind = Kind.PYTHON
    else:
        kind = Kind.UNKNOWN
    if kind in (Kind.NUMPY, Kind.PYTHON):
        origins = frozenset()
    ranks = [v.rank for v in values]
    rank = max(ranks) if ranks and None not in ranks else None
    dtype = promote([v.dtype for v in values], [v.kind for v in values])
    tensor_dtypes = {v.dtype for v in values if v.kind in TENSOR_KINDS and v.dtype}
    if kind in TENSOR_KINDS and len(tensor_dtypes) == 1:
        dtype = tensor_dtypes.pop()  # TF requires one dtype: the others are converted to it, or it fails
    return Value(kind, dtype, rank, origins, derived=derived)


_FLOAT_ORDER = ("float16", "bfloat16", "float32", "float64")
_INT_ORDER = ("bool", "uint8", "int8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def promote(dtypes: list[str | None], kinds: list[Kind] | None = None) -> str | None:
    """The dtype of arithmetic on these dtypes, or None when it cannot be known. Python scalars are weak:
    `x * 2.0` keeps x's dtype; float arrays win over int ones."""
    strong = [d for d in dtypes if d not in PYTHON_SCALAR_DTYPES]
    weak = [d for d in dtypes if d in PYTHON_SCALAR_DTYPES]
    if None in dtypes or not dtypes:
        return None
    if not strong:
        return "float" if "float" in weak else "int" if "int" in weak else weak[0]
    floats = [d for d in strong if d in _FLOAT_ORDER]
    if floats:
        return max(floats, key=_FLOAT_ORDER.index)
    ints = [d for d in strong if d in _INT_ORDER]
    if len(ints) == len(strong):
        if "float" in weak:
            return "float64" if kinds and Kind.NUMPY in kinds else None  # numpy promotes; TF refuses
        return max(ints, key=_INT_ORDER.index)
    return None


# --- what functions do with their arguments --------------------------------------------------------------

# TF/Keras functions that answer with Python values (shapes, flags, config) whatever they are given.
PYTHON_RESULT_FUNCTIONS = frozenset({
    "tensorflow.rank", "tensorflow.TensorShape", "tensorflow.executing_eagerly", "tensorflow.is_tensor",
    "tensorflow.get_static_value", "keras.backend.int_shape", "keras.backend.floatx", "keras.backend.epsilon",
    "keras.backend.image_data_format", "keras.backend.ndim", "keras.backend.is_keras_tensor", "keras.ops.ndim",
    "keras.ops.is_tensor", "keras.utils.is_keras_tensor", "tensorflow.compat.dimension_value",
    "tensorflow.compat.dimension_at_index", "tensorflow.Dimension", "tensorflow.inside_function",
    "tensorflow.get_logger", "tensorflow.name_scope", "keras.backend.backend", "keras.config.backend",
    "keras.config.floatx", "keras.config.epsilon", "keras.config.image_data_format",
    "tensorflow.python.framework.tensor_shape.dimension_value", "tensorflow.python.framework.tensor_shape.TensorShape",
    "tensorflow.python.framework.tensor_shape.as_dimension", "keras.ops.shape",
})
# Functions that hand back the tensors of a nested structure, rearranged: the values themselves.
STRUCTURE_FUNCTIONS = frozenset({"tensorflow.nest.flatten", "tensorflow.nest.pack_sequence_as",
                                 "tensorflow.nest.map_structure", "keras.tree.flatten"})
NUMPY_RESULT_FUNCTIONS = frozenset({"keras.ops.convert_to_numpy", "keras.backend.convert_to_numpy",
                                    "keras.backend.eval", "keras.backend.get_value", "keras.backend.batch_get_value"})
# Tensors whose value does not depend on the values of their arguments, only on shapes/dtypes: off the path.
VALUE_FREE_OPS = frozenset({"ones", "zeros", "fill", "eye", "range", "arange", "linspace", "ones_like",
                            "zeros_like", "normal", "uniform", "truncated_normal", "random_normal", "random_uniform",
                            "shape", "shape_n", "size", "categorical", "stateless_normal", "stateless_uniform",
                            "sequence_mask", "constant"})
TENSOR_CLASSES = frozenset({"tensorflow.Variable", "keras.Variable", "keras.backend.Variable",
                            "tensorflow.RaggedTensor", "tensorflow.SparseTensor"})

# How gradient flows through an op: through all its tensor arguments, or through its first only
# (`tf.gather(params, indices)`: the indices carry no gradient).
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
    "swish", "silu", "leaky_relu", "l2_normalize", "normalize", "sin", "cos", "tan", "atan", "arctan", "asin",
    "arcsin", "acos", "arccos", "sinh", "cosh", "asinh", "arcsinh", "acosh", "arccosh", "atanh", "arctanh",
    "log2", "log10", "exp2", "cbrt", "negative", "reciprocal", "erf",
    "dropout", "repeat", "reverse", "flip", "roll", "moveaxis", "swapaxes", "flatten", "ravel", "norm",
    "l2_loss", "sort", "absolute", "amax", "amin"})
WHERE_VALUES = frozenset({"where"})  # where(condition, x, y): only x and y carry gradient
VALUE_KEYWORDS = frozenset({"x", "y", "a", "b", "tensor", "input", "input_tensor", "inputs", "logits",
                            "features", "params", "value", "values", "y_pred"})
NON_VALUE_KEYWORDS = frozenset({"training", "mask", "attention_mask", "axis", "dtype", "name", "shape", "indices",
                                "depth", "keepdims", "perm", "batch_dims", "segment_ids", "seed", "rate",
                                "sample_weight", "return_dict", "output_attentions", "output_hidden_states",
                                "use_cache"})

# Element-wise functions (TF and NumPy spellings): result rank = broadcast of the operands.
ELEMENTWISE = frozenset({
    "add", "subtract", "multiply", "divide", "truediv", "true_divide", "maximum", "minimum", "pow", "power",
    "abs", "absolute", "exp", "log", "log1p", "expm1", "sqrt", "square", "rsqrt", "tanh", "sigmoid", "relu",
    "relu6", "gelu", "elu", "selu", "softplus", "softsign", "swish", "silu", "leaky_relu", "sin", "cos", "tan",
    "arctan", "atan", "negative", "reciprocal", "erf", "clip", "clip_by_value", "where", "squared_difference",
    "softmax", "log_softmax", "dropout", "cumsum", "cumprod", "round", "around", "floor", "ceil", "sign",
    "identity", "l2_normalize", "divide_no_nan", "stop_gradient", "bias_add"})
REDUCTIONS = frozenset({"reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_std",
                        "reduce_variance", "reduce_logsumexp", "sum", "mean", "max", "min", "amax", "amin", "prod",
                        "std", "var", "logsumexp", "argmax", "argmin", "norm", "reduce_any", "reduce_all",
                        "count_nonzero"})
# Functions whose float result does not follow the input dtype: int in, float out (numpy) / error (TF).
FLOAT_RESULT = frozenset({"exp", "log", "log1p", "expm1", "sqrt", "tanh", "sin", "cos", "tan", "arctan",
                          "true_divide", "divide", "mean", "std", "var", "reciprocal"})
# NumPy functions that make arrays from shapes or nothing: constants, float64 unless told otherwise.
NUMPY_MAKERS = frozenset({"zeros", "ones", "empty", "full", "eye", "identity", "arange", "linspace", "logspace",
                          "zeros_like", "ones_like", "full_like", "empty_like", "tri", "meshgrid", "indices"})
NUMPY_CONVERTERS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray", "float32", "float64",
                              "int32", "int64"})
NUMPY_PYTHON_RESULTS = frozenset({"shape", "ndim", "size", "isscalar", "iscomplexobj", "result_type", "dtype",
                                  "finfo", "iinfo", "issubdtype", "can_cast", "prod_of_shape"})

# Methods/attributes a NumPy array has and a tf.Tensor does not: a rewritten value cannot flow into them.
NDARRAY_ONLY_METHODS = frozenset({
    "reshape", "sum", "mean", "max", "min", "std", "var", "prod", "argmax", "argmin", "astype", "tolist",
    "item", "flatten", "ravel", "copy", "fill", "transpose", "squeeze", "clip", "round", "cumsum", "any", "all",
    "dot", "nonzero", "sort", "argsort", "repeat", "take", "put", "tobytes", "tofile", "view", "swapaxes",
    "itemset", "resize", "byteswap", "choose", "compress", "diagonal", "trace", "conj", "ptp", "searchsorted"})
NDARRAY_ONLY_ATTRIBUTES = frozenset({"T", "flat", "real", "imag", "itemsize", "nbytes", "strides", "data", "size",
                                     "base", "flags", "ctypes"})
# What a tf.Tensor offers besides operators: a value flowing here is fine either way.
TENSOR_API = frozenset({"shape", "dtype", "ndim", "numpy", "get_shape", "set_shape", "name", "device", "op",
                        "graph", "consumers", "eval", "value", "read_value", "assign", "assign_add", "assign_sub",
                        "to_tensor", "values", "indices", "dense_shape", "row_lengths", "nested_row_lengths",
                        "merge_dims", "with_values", "__array__", "experimental_ref", "ref"})
# Python builtins: result kinds.
PYTHON_BUILTINS = frozenset({"len", "str", "repr", "print", "range", "isinstance", "type", "id", "hash", "format",
                             "callable", "hasattr", "getattr", "int", "float", "bool", "round", "sorted",
                             "any", "all", "divmod", "ord", "chr", "open", "iter", "next", "vars", "dir",
                             "setattr", "issubclass", "super"})
CONTAINER_MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault"})
SHAPE_ATTRS = frozenset({"shape", "dtype", "ndim", "name", "device", "trainable", "built", "rank",
                         "graph", "op", "size"})
WEIGHT_ATTRS_OF_LAYERS = frozenset({"kernel", "bias", "embeddings", "gamma", "beta", "weights",
                                    "trainable_weights", "trainable_variables", "variables", "recurrent_kernel",
                                    "depthwise_kernel", "pointwise_kernel"})


def last_name(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def dtype_of_name(name: str | None) -> str | None:
    """`float32` for `tf.float32`/`np.float32`/`"float32"`; Python's `float` is float64, `int` int64."""
    if not name:
        return None
    last = last_name(name)
    aliases = {"float": "float64", "int": "int64", "bool": "bool", "double": "float64", "single": "float32",
               "half": "float16", "bool_": "bool", "float_": "float64", "int_": "int64", "complex": "complex128"}
    if last in DTYPES:
        return last
    return aliases.get(last)
