"""Shared by the variable-tracking rules (GF201, GF202, GF203, GF205, GF301, GF303): recognising `tf.Variable(...)` and
rewriting `self.x = tf.Variable(...)` as `self.x = self.add_weight(...)` with the same shape, initial
value, dtype, trainable flag, name and constraint.

Keras 3 tracks `add_weight`/`keras.Variable` only; tf_keras also tracks bare `tf.Variable`s and
`tf.Module`s (DESIGN.md §3). A translation that cannot be exact is refused with a reason, so the rule
reports instead of rewriting.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass, field

from gradfix.analysis import FileAnalysis, KerasClass, KerasKind
from gradfix.analysis.keras import is_keras_2_file
from gradfix.analysis.tensors import is_self, is_super_call
from gradfix.edits import call_text, indentation, starts_its_line

TF_VARIABLE = "tensorflow.Variable"
VARIABLE_CLASSES = (TF_VARIABLE, "keras.Variable", "keras.backend.Variable")

# tf.Variable(initial_value, trainable, validate_shape, caching_device, name, variable_def, dtype, ...)
_VARIABLE_POSITIONAL = ("initial_value", "trainable", "validate_shape", "caching_device", "name",
                        "variable_def", "dtype", "import_scope", "constraint")
_CARRIED = ("trainable", "name", "constraint")

# tf.random op -> (Keras initializer, its positional parameters, defaults written out because Keras's
# own defaults differ: RandomNormal's stddev is 0.05, tf.random.normal's is 1.0).
_RANDOM_OPS = {
    "tensorflow.random.normal": ("RandomNormal", ("shape", "mean", "stddev", "dtype", "seed"), {"stddev": "1.0"}),
    "tensorflow.random_normal": ("RandomNormal", ("shape", "mean", "stddev", "dtype", "seed"), {"stddev": "1.0"}),
    "tensorflow.random.truncated_normal":
        ("TruncatedNormal", ("shape", "mean", "stddev", "dtype", "seed"), {"stddev": "1.0"}),
    "tensorflow.truncated_normal": ("TruncatedNormal", ("shape", "mean", "stddev", "dtype", "seed"), {"stddev": "1.0"}),
    "tensorflow.random.uniform":
        ("RandomUniform", ("shape", "minval", "maxval", "dtype", "seed"), {"minval": "0.0", "maxval": "1.0"}),
    "tensorflow.random_uniform":
        ("RandomUniform", ("shape", "minval", "maxval", "dtype", "seed"), {"minval": "0.0", "maxval": "1.0"}),
}
_FILLS = {"tensorflow.zeros": "zeros", "tensorflow.ones": "ones", "numpy.zeros": "zeros", "numpy.ones": "ones"}
# NumPy array makers whose result is float64 and whose shape can be read off the call.
_NUMPY_RANDOM_DIMS = ("numpy.random.randn", "numpy.random.rand")
_NUMPY_RANDOM_SIZE = {"numpy.random.normal": 2, "numpy.random.uniform": 2, "numpy.random.standard_normal": 0,
                      "numpy.random.random": 0, "numpy.random.random_sample": 0}
# What a Keras 3 variable offers besides operators; any other `self.w.<attribute>` is tf.Variable API.
_KERAS_VARIABLE_API = frozenset({"numpy", "value", "assign", "assign_add", "assign_sub", "dtype", "shape", "ndim",
                                 "trainable", "name", "path", "handle", "constraint", "regularizer"})
_FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
_DTYPE_NAMES = _FLOAT_DTYPES + ("int8", "int16", "int32", "int64", "uint8", "bool", "complex64", "complex128")


def is_variable_call(analysis: FileAnalysis, node: ast.AST, classes=(TF_VARIABLE,)) -> bool:
    return isinstance(node, ast.Call) and analysis.qualname(node.func) in classes


def could_be_trained(analysis: FileAnalysis, call: ast.Call) -> bool:
    """A `tf.Variable(...)` that can be a trained weight: not `trainable=False`, not of an integer or bool dtype
    (counters and lookup state, which Keras's own layers keep in tf.Variables on purpose)."""
    arguments = dict(zip(_VARIABLE_POSITIONAL, call.args))
    arguments.update({k.arg: k.value for k in call.keywords if k.arg})
    trainable, dtype, value = arguments.get("trainable"), arguments.get("dtype"), arguments.get("initial_value")
    if isinstance(trainable, ast.Constant) and trainable.value is False:
        return False
    if dtype is not None:
        return _dtype_name(analysis, dtype) in (*_FLOAT_DTYPES, None)
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
        value = value.operand
    return not (isinstance(value, ast.Constant) and isinstance(value.value, (bool, int)))


def may_be_keras_2(analysis: FileAnalysis) -> bool:
    """The file is Keras 2 code (it imports tf_keras, or sets TF_USE_LEGACY_KERAS: `is_keras_2_file`), or the
    project is (`target-keras` "2", from the config, --target-keras or, for "auto", the project's pins), or
    the file takes `keras` from a module of its own project (transformers re-exports tf_keras that way), whose
    choice of Keras cannot be seen here. Bare tf.Variables and tf.Modules are tracked by Keras 2, so such code
    may well be correct. Target "3" settles re-exported `keras` modules."""
    if analysis.target_keras == "2" or is_keras_2_file(analysis.source.text):
        return True
    return analysis.target_keras != "3" and any(
        qualname.endswith(".keras") for qualname in analysis.imports.names.values())


def layer_classes(analysis: FileAnalysis) -> list[KerasClass]:
    return [c for c in analysis.keras_classes if c.kind in (KerasKind.LAYER, KerasKind.MODEL)]


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def walk_function(function: ast.AST):
    """Every node of a function body, not descending into nested functions, lambdas or classes."""
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def walk_function_statements(function: ast.AST):
    """The statements `walk_function` yields, in its order, without visiting the expressions around them (ten
    times as many nodes): for rules that look for assignments. Expressions hold no statements, so leaving them
    out keeps the order; except handlers and match cases are gone through to the blocks they hold."""
    stack = _blocks_of(function)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        if not isinstance(node, _SCOPES):
            stack.extend(_blocks_of(node))


def _blocks_of(node: ast.AST) -> list[ast.AST]:
    """The statements, except handlers and match cases directly inside `node`, in `ast.iter_child_nodes` order."""
    return [child for name in node._fields if isinstance(children := getattr(node, name, None), list)
            for child in children if isinstance(child, (ast.stmt, ast.excepthandler, ast.match_case))]


def self_attribute(node: ast.AST) -> str | None:
    """`x` for `self.x`."""
    if isinstance(node, ast.Attribute) and is_self(node.value):
        return node.attr
    return None


def stores_on_self(statement: ast.stmt) -> bool:
    """`self.x = ...`, `self.xs[i] = ...`, `self.a, b = ...`, `self.xs.append(...)`."""
    if isinstance(statement, ast.Expr):
        func = statement.value.func if isinstance(statement.value, ast.Call) else None
        return isinstance(func, ast.Attribute) and self_attribute(func.value) is not None
    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
    return any(self_attribute(node) is not None for target in targets for node in ast.walk(target))


def is_docstring(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
        and isinstance(statement.value.value, str)


def super_init_line(init: ast.FunctionDef) -> int | None:
    """Line of the first `super().__init__(...)` (or `Base.__init__(self, ...)`) call in `__init__`."""
    lines = [node.lineno for node in walk_function(init)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
             and (is_super_call(node.func.value) or (node.args and is_self(node.args[0])))]
    return min(lines, default=None)


def keras_namespace(analysis: FileAnalysis, class_node: ast.ClassDef | None) -> str:
    """How this file spells the Keras package (`tf.keras`, `keras`, `tf_keras`), read off the class's base
    when possible so a fix writes `tf.keras.initializers.Constant` next to `tf.keras.layers.Layer`."""
    for base in class_node.bases if class_node else ():
        expr = base
        while isinstance(expr, ast.Attribute) and (analysis.qualname(expr) or "").startswith("keras."):
            expr = expr.value
            if analysis.qualname(expr) == "keras":
                return analysis.segment(expr)
    return analysis.imports.local_name_of("keras") or f"{analysis.tf_name}.keras"


@dataclass(frozen=True)
class WeightRewrite:
    """The replacement of a `self.x = tf.Variable(...)` statement, or the reason there is none."""

    text: str | None = None
    reason: str = ""
    note: str = ""
    needs_tensorflow_import: bool = False


@dataclass
class _Initial:
    arguments: dict[str, str] = field(default_factory=dict)  # add_weight keywords: shape, initializer, dtype
    setup: str | None = None  # a statement evaluated before add_weight (the initial value, computed once)


class _Refused(Exception):
    pass


def add_weight_rewrite(analysis: FileAnalysis, statement: ast.Assign, function: ast.FunctionDef,
                       owner: KerasClass | None, keras: str, switched_on_later: bool = False) -> WeightRewrite:
    """`self.x = tf.Variable(V, ...)` → `self.x = self.add_weight(shape=..., initializer=..., ...)`.

    `owner` is the class the statement belongs to (for `self.<initializer>` attributes), `keras` the
    namespace to write Keras initializers with. `switched_on_later`: the code sets `.trainable = True` on the
    frozen variable later, so the weight is created trainable and frozen by a second statement — a Keras 3
    weight created with trainable=False wraps a tf.Variable the tape never watches, even once switched on."""
    call = statement.value
    try:
        keywords = _variable_keywords(call)
        value = keywords.pop("initial_value", None)
        if value is None:
            raise _Refused("it has no initial value")
        dtype = keywords.pop("dtype", None)
        name = keywords.get("name")
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and "/" in name.value:
            raise _Refused("Keras 3 weight names cannot contain '/'")
        target = analysis.segment(statement.targets[0])
        if owner is not None:
            _check_keras_variable_suffices(owner, statement.targets[0].attr)
        initial = _initial(analysis, value, dtype, function, owner, keras, target)
    except _Refused as refusal:
        return WeightRewrite(reason=str(refusal))
    arguments = dict(initial.arguments)
    carried = [key for key in _CARRIED if key in keywords and not (switched_on_later and key == "trainable")]
    arguments.update({key: analysis.segment(keywords[key]) for key in carried})
    indent = indentation(analysis.source, statement.lineno)
    lines = [f"{indent}{comment}" for comment in _comments_outside(analysis, call, [value, dtype, *keywords.values()])]
    if initial.setup:
        lines.append(indent + initial.setup)
    lines.append(indent + _call_text(f"{target} = self.add_weight", arguments, indent, analysis.source.newline))
    if switched_on_later:
        lines.append(f"{indent}{target}.trainable = False")
    note = ""
    if arguments.get("dtype") == '"float64"':
        note = "the weight stays float64 like the NumPy value it came from; add dtype=\"float32\" if the layer computes in float32"
    uses_tensorflow = initial.setup is not None or keras.startswith(analysis.tf_name + ".")
    return WeightRewrite(text=analysis.source.newline.join(lines)[len(indent):], note=note,
                         needs_tensorflow_import=uses_tensorflow and not analysis.tensorflow_imported)


def layer_weight_rewrite(analysis: FileAnalysis, keras_class: KerasClass, statement: ast.Assign, method_name: str,
                         creators: set[str], keras: str, switched_on_later: bool = False) -> WeightRewrite:
    """`add_weight_rewrite` for a statement of a Keras class, refused where Keras does not allow `add_weight`
    (`creators`: the class's `state_creating_methods`)."""
    method = keras_class.methods[method_name]
    if {"save_own_variables", "load_own_variables"} & set(keras_class.methods):
        return WeightRewrite(reason="the class saves and loads its variables itself")
    if "__call__" in keras_class.methods:
        return WeightRewrite(reason="the class defines `__call__` itself, bypassing Keras's call machinery, so it is "
                                    "used like a tf.Module (tf.saved_model and tf.train.Checkpoint track the variable)")
    if method_name not in creators:
        return WeightRewrite(reason=f"move it to `build`: Keras 3 locks a layer's state once it is built, so "
                                    f"`add_weight` in `{method_name}` would raise")
    if not starts_its_line(analysis.source, statement):
        return WeightRewrite(reason="it shares its line with other code")
    if method_name == "__init__":
        super_line = super_init_line(method)
        if super_line is None or super_line > statement.lineno:
            return WeightRewrite(reason="`add_weight` needs `super().__init__()` to have run first")
    if is_initializer_result(analysis, statement.value, method, keras_class):
        return _initializer_weight_rewrite(analysis, statement, method, keras_class, keras)
    return add_weight_rewrite(analysis, statement, method, keras_class, keras, switched_on_later)


def is_initializer_result(analysis: FileAnalysis, value: ast.AST, function: ast.FunctionDef,
                          owner: KerasClass | None) -> bool:
    """`init(shape)` with `init` an initializer object: a constant tensor, not a variable."""
    return isinstance(value, ast.Call) and _is_initializer(analysis, value.func, function, owner)


def _initializer_weight_rewrite(analysis: FileAnalysis, statement: ast.Assign, function: ast.FunctionDef,
                                owner: KerasClass, keras: str) -> WeightRewrite:
    """`self.w = init(shape, name=...)` → `self.w = self.add_weight(shape=shape, initializer=init, name=...)`."""
    initial = _initializer_call(analysis, statement.value, function, owner, keras)
    if initial is None:
        return WeightRewrite(reason="the initializer is called with arguments `add_weight` does not take")
    arguments = dict(initial.arguments)
    name = next((k.value for k in statement.value.keywords if k.arg == "name"), None)
    if name is not None:
        arguments["name"] = analysis.segment(name)
    indent = indentation(analysis.source, statement.lineno)
    target = analysis.segment(statement.targets[0])
    return WeightRewrite(text=_call_text(f"{target} = self.add_weight", arguments, indent, analysis.source.newline))


def _check_keras_variable_suffices(owner: KerasClass, attribute: str) -> None:
    """Refuse when the class uses `self.<attribute>` in ways only a tf.Variable supports (scatter updates,
    `sparse_read`, sliced `assign`)."""
    for node in ast.walk(owner.node):
        if isinstance(node, ast.Attribute) and self_attribute(node.value) == attribute \
                and node.attr not in _KERAS_VARIABLE_API and not node.attr.startswith("__"):
            raise _Refused(f"`self.{attribute}.{node.attr}` is tf.Variable API that a Keras variable lacks")
        if isinstance(node, ast.Attribute) and node.attr.startswith("assign") and isinstance(node.value, ast.Subscript) \
                and self_attribute(node.value.value) == attribute:
            raise _Refused(f"`self.{attribute}[...].{node.attr}` (sliced assignment) needs a tf.Variable")


def _variable_keywords(call: ast.Call) -> dict[str, ast.AST]:
    if len(call.args) > 2 or any(isinstance(a, ast.Starred) for a in call.args):
        raise _Refused("positional arguments beyond `initial_value, trainable` have no add_weight equivalent")
    keywords = dict(zip(_VARIABLE_POSITIONAL, call.args))
    for keyword in call.keywords:
        if keyword.arg is None:
            raise _Refused("`**kwargs` may hold arguments add_weight does not take")
        keywords[keyword.arg] = keyword.value
    validate = keywords.pop("validate_shape", None)
    if validate is not None and not (isinstance(validate, ast.Constant) and validate.value is True):
        raise _Refused("`validate_shape` has no add_weight equivalent")
    unsupported = sorted(set(keywords) - {"initial_value", "dtype", *_CARRIED})
    if unsupported:
        raise _Refused(f"`{unsupported[0]}` has no add_weight equivalent")
    return keywords


def _initial(analysis: FileAnalysis, value: ast.AST, dtype: ast.AST | None, function: ast.FunctionDef,
             owner: KerasClass | None, keras: str, target: str) -> _Initial:
    """Shape, initializer and dtype that give the same initial value as `tf.Variable(value, dtype=dtype)`."""
    for translate in (_fill, _random_op, _initializer_call, _scalar, _numpy_array):
        initial = translate(analysis, value, function, owner, keras)
        if initial is not None:
            if dtype is not None:
                initial.arguments["dtype"] = _dtype_text(analysis, dtype)
            return initial
    return _computed(analysis, value, dtype, function, keras, target)


def _fill(analysis, value, function, owner, keras) -> _Initial | None:
    """`tf.zeros(shape)` / `np.ones(shape, dtype)` → `initializer="zeros"/"ones"`."""
    array, dtype = _astype(analysis, value)
    kind = _FILLS.get(analysis.qualname(array.func)) if isinstance(array, ast.Call) else None
    if kind is None:
        return None
    arguments = _bind(array, ("shape", "dtype"))
    shape = _literal_shape(analysis, arguments.get("shape"))
    if shape is None or set(arguments) - {"shape", "dtype", "name"}:
        return None
    numpy = analysis.qualname(array.func).startswith("numpy.")
    dtype = dtype or arguments.get("dtype")
    result = _Initial({"shape": shape, "initializer": f'"{kind}"'})
    if dtype is not None:
        result.arguments["dtype"] = _dtype_text(analysis, dtype)
    elif numpy:
        result.arguments["dtype"] = '"float64"'
    return result


def _random_op(analysis, value, function, owner, keras) -> _Initial | None:
    """`tf.random.normal(shape, mean, stddev, seed=...)` → `keras.initializers.RandomNormal(...)`."""
    if not isinstance(value, ast.Call) or analysis.qualname(value.func) not in _RANDOM_OPS:
        return None
    initializer, parameters, written_defaults = _RANDOM_OPS[analysis.qualname(value.func)]
    arguments = _bind(value, parameters)
    shape = _literal_shape(analysis, arguments.pop("shape", None))
    dtype = arguments.pop("dtype", None)
    if shape is None or set(arguments) - set(parameters) or (dtype is not None and _dtype_name(analysis, dtype)
                                                             not in _FLOAT_DTYPES):
        return None
    settings = [f"{key}={analysis.segment(arguments[key]) if key in arguments else written_defaults[key]}"
                for key in parameters[1:] if key in arguments or key in written_defaults]
    result = _Initial({"shape": shape, "initializer": f"{keras}.initializers.{initializer}({', '.join(settings)})"})
    if dtype is not None:
        result.arguments["dtype"] = _dtype_text(analysis, dtype)
    return result


def _initializer_call(analysis, value, function, owner, keras) -> _Initial | None:
    """`init(shape=(a, b), dtype=...)` with `init` an initializer object → `initializer=init`."""
    if not isinstance(value, ast.Call) or not _is_initializer(analysis, value.func, function, owner):
        return None
    arguments = _bind(value, ("shape", "dtype"))
    if set(arguments) - {"shape", "dtype"} or "shape" not in arguments:
        return None
    shape = arguments["shape"]
    result = _Initial({"shape": _literal_shape(analysis, shape) or analysis.segment(shape),
                       "initializer": analysis.segment(value.func)})
    if "dtype" in arguments:
        result.arguments["dtype"] = _dtype_text(analysis, arguments["dtype"])
    return result


def _scalar(analysis, value, function, owner, keras) -> _Initial | None:
    """A Python or NumPy scalar → `shape=()`, `initializer=keras.initializers.Constant(value)`."""
    number = value.operand if isinstance(value, ast.UnaryOp) and isinstance(value.op, (ast.USub, ast.UAdd)) else value
    dtype = None
    if isinstance(number, ast.Call) and len(number.args) == 1 and not number.keywords:
        dtype = _numpy_scalar_type(analysis, number.func)
        if dtype is None:
            return None
        number = number.args[0]
        number = number.operand if isinstance(number, ast.UnaryOp) and isinstance(number.op, ast.USub) else number
    if not isinstance(number, ast.Constant) or isinstance(number.value, bool) \
            or not isinstance(number.value, (int, float)):
        return None
    if dtype is None and isinstance(number.value, int):
        dtype = "int32"  # tf.Variable(0) is an int32 variable
    result = _Initial({"shape": "()", "initializer": f"{keras}.initializers.Constant({analysis.segment(value)})"})
    if dtype and dtype != "float32":
        result.arguments["dtype"] = f'"{dtype}"'
    return result


def _numpy_array(analysis, value, function, owner, keras) -> _Initial | None:
    """`np.random.randn(a, b)` (float64), optionally `.astype(...)`: the same values, kept by `Constant`."""
    array, dtype = _astype(analysis, value)
    if not isinstance(array, ast.Call):
        return None
    qualname = analysis.qualname(array.func)
    if qualname in _NUMPY_RANDOM_DIMS and array.args and not array.keywords \
            and not any(isinstance(a, ast.Starred) for a in array.args):
        dims = [analysis.segment(a) for a in array.args]
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
    elif qualname in _NUMPY_RANDOM_SIZE:
        size_position = _NUMPY_RANDOM_SIZE[qualname]
        size = next((k.value for k in array.keywords if k.arg == "size"),
                    array.args[size_position] if len(array.args) > size_position else None)
        shape = _literal_shape(analysis, size)
        if shape is None:
            return None
    else:
        return None
    return _Initial({"shape": shape, "initializer": f"{keras}.initializers.Constant({analysis.segment(value)})",
                     "dtype": _dtype_text(analysis, dtype) if dtype is not None else '"float64"'})


def _computed(analysis, value, dtype, function, keras, target) -> _Initial:
    """Any other initial value: compute it once, exactly as tf.Variable would (`tf.convert_to_tensor`), and
    take shape, dtype and values from the result."""
    if isinstance(value, ast.Lambda) or _bound_to_callable(value, function):
        raise _Refused("its initial value is a callable")
    name = "initial_" + target.rsplit(".", 1)[-1].lstrip("_")
    if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(function)):
        raise _Refused(f"`{name}` is already used")
    tf = analysis.tf_name
    converted = analysis.segment(value) + (f", dtype={analysis.segment(dtype)}" if dtype is not None else "")
    return _Initial({"shape": f"{name}.shape", "initializer": f"{keras}.initializers.Constant({name})",
                     "dtype": f"{name}.dtype"},
                    setup=f"{name} = {tf}.convert_to_tensor({converted})")


def _bind(call: ast.Call, parameters: tuple[str, ...]) -> dict[str, ast.AST]:
    if len(call.args) > len(parameters) or any(isinstance(a, ast.Starred) for a in call.args) \
            or any(k.arg is None for k in call.keywords):
        return {"*": call}
    bound = dict(zip(parameters, call.args))
    bound.update({k.arg: k.value for k in call.keywords if k.arg != "name"})
    return bound


def _literal_shape(analysis: FileAnalysis, shape: ast.AST | None) -> str | None:
    """A shape written as a list/tuple display, or an int literal (`5` → `(5,)`); None when not evident."""
    if isinstance(shape, (ast.Tuple, ast.List)) and not any(isinstance(e, ast.Starred) for e in shape.elts):
        return analysis.segment(shape)
    if isinstance(shape, ast.Constant) and type(shape.value) is int:
        return f"({shape.value},)"
    return None


def _astype(analysis: FileAnalysis, value: ast.AST) -> tuple[ast.AST, ast.AST | None]:
    """(`array`, `dtype`) for `array.astype(dtype)`, else (`value`, None)."""
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "astype" \
            and len(value.args) == 1 and not value.keywords and _dtype_name(analysis, value.args[0]):
        return value.func.value, value.args[0]
    return value, None


def _dtype_name(analysis: FileAnalysis, dtype: ast.AST) -> str | None:
    """`float32` for `tf.float32`, `np.float32`, `"float32"`, `tf.dtypes.float32`."""
    if isinstance(dtype, ast.Constant) and dtype.value in _DTYPE_NAMES:
        return dtype.value
    name = (analysis.qualname(dtype) or "").rsplit(".", 1)[-1]
    return name if name in _DTYPE_NAMES else None


def _dtype_text(analysis: FileAnalysis, dtype: ast.AST) -> str:
    """A dtype as add_weight takes it in both Keras versions: a string when the name is known."""
    name = _dtype_name(analysis, dtype)
    return f'"{name}"' if name else analysis.segment(dtype)


def _numpy_scalar_type(analysis: FileAnalysis, func: ast.AST) -> str | None:
    name = analysis.qualname(func) or ""
    if name.startswith("numpy.") and name[len("numpy."):] in _DTYPE_NAMES:
        return name[len("numpy."):]
    return None


_TF_INITIALIZER = re.compile(r"^tensorflow\.(?:initializers\.\w+|\w+_initializer|keras\.initializers\.\w+)$")


def _is_initializer(analysis: FileAnalysis, func: ast.AST, function: ast.FunctionDef,
                    owner: KerasClass | None) -> bool:
    """An initializer object: made in place (`GlorotUniform()`), bound to a local of the function, or
    stored on `self` by the class (`self.kernel_initializer = initializers.get(...)`)."""
    def made_by_initializer_factory(node: ast.AST) -> bool:
        if not isinstance(node, ast.Call):
            return False
        qualname = analysis.qualname(node.func) or ""
        return qualname.startswith("keras.initializers.") or bool(_TF_INITIALIZER.match(qualname))

    if made_by_initializer_factory(func):
        return True
    if isinstance(func, ast.Name):
        values = [n.value for n in walk_function(function) if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == func.id for t in n.targets)]
        return bool(values) and all(map(made_by_initializer_factory, values))
    attribute = self_attribute(func)
    if attribute and owner is not None:
        values = owner.attribute_values.get(attribute, [])
        return bool(values) and all(map(made_by_initializer_factory, values))
    return False


def _bound_to_callable(value: ast.AST, function: ast.FunctionDef) -> bool:
    if not isinstance(value, ast.Name):
        return False
    for node in walk_function(function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == value.id:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == value.id for t in node.targets):
            bound = node.value
            if isinstance(bound, ast.Lambda) or (isinstance(bound, ast.Call) and isinstance(bound.func, (
                    ast.Name, ast.Attribute)) and ast.unparse(bound.func).endswith("partial")):
                return True
    return False


def _comments_outside(analysis: FileAnalysis, call: ast.Call, kept: list[ast.AST | None]) -> list[str]:
    """Comments inside the call but outside the argument texts the rewrite keeps: moved above the statement."""
    start, end = analysis.span(call)
    kept_spans = [analysis.span(node) for node in kept if node is not None]
    text = analysis.source.text[start:end]
    if "#" not in text:
        return []
    comments = []
    line_offsets = [0] + [m.end() for m in re.finditer(r"\r\n|\r|\n", text)]
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return []
    for token in tokens:
        if token.type == tokenize.COMMENT:
            offset = start + line_offsets[token.start[0] - 1] + token.start[1]
            if not any(a <= offset < b for a, b in kept_spans):
                comments.append(token.string)
    return comments


def _call_text(head: str, arguments: dict[str, str], indent: str, newline: str) -> str:
    """`head(k=v, ...)` on one line when it fits, else one argument per line."""
    order = ("shape", "initializer", "dtype", "trainable", "name", "constraint")
    return call_text(head, [f"{key}={arguments[key]}" for key in order if key in arguments], indent, newline)
