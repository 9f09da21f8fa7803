"""The numpy -> TensorFlow mapping table used by the fixes of GF101/GF103/GF402.

Each numpy function maps to one TF op plus rules for its arguments. A translation is only
offered when it is exact: same values (within float tolerance) and same shape as numpy for
every input the TF op accepts. Every other call form yields ``Translation(None, note)`` so the
caller reports the finding without a fix. See DESIGN.md §4 for the measured facts.

Where the plain TF op would need a rank or a value the analysis does not know (`np.dot` of an operand of
unknown rank, `np.take` with indices that may be negative), the call goes to a NumPy-compatible namespace
instead (`keras.ops`, or `tf.experimental.numpy` for Keras 2 code), which computes what numpy computes
whatever the ranks. A file that must not use TensorFlow (backend-agnostic Keras 3: `import keras`, no
TensorFlow import) gets `keras.ops` for every call (`_KERAS_OPS`), never a TF op.

This module is on the static path: it must not import tensorflow or numpy. It reads and writes code as text
(`CallText`: a call's function, arguments and layout as written) and inspects an expression with `ast`, so that
`check`, which shows the TF form in its message, never pays LibCST's import.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable, Mapping


@dataclass(frozen=True)
class TranslationContext:
    tf: str | None  # the file's name for TensorFlow; None: the file must not use it (only `numpy_ops`)
    qualname: Callable[[str], str | None]  # of an expression's code
    rank_of: Callable[[str], int | None]  # of an expression's code
    numpy_ops: str | None = None  # NumPy-compatible ops: `keras.ops`, `tf.keras.ops`, `tf.experimental.numpy`

    @property
    def tnp(self) -> bool:
        """Is `numpy_ops` tf.experimental.numpy, which is used only for what its tests show equal to numpy
        (dot, matmul: `NUMPY_COMPATIBLE_IN_TNP`)? Otherwise it is keras.ops, which follows numpy throughout."""
        return bool(self.numpy_ops) and self.numpy_ops.endswith("experimental.numpy")


@dataclass(frozen=True)
class Translation:
    replacement: str | None  # the code of the TF form
    note: str = ""


# --------------------------------------------------------------------------- a call's code, as written


@dataclass(frozen=True)
class ArgText:
    """One argument of a call as written: its value's code (with the value's own parentheses) and the layout
    around it, byte for byte, so that a rewritten call keeps the user's comments, line breaks and commas."""

    value: str
    keyword: str | None = None
    equal: str = "="  # between the keyword and the value, as written
    comma: str | None = None  # the comma and the layout after it, up to the next argument or `)`; None: no comma
    closing: str = ""  # the layout before `)` after a last argument written without a trailing comma
    star: str = ""  # `*` or `**` and the layout after it

    def code(self, last: bool) -> str:
        keyword = "" if self.keyword is None else self.keyword + self.equal
        comma = (", " if not last else "") if self.comma is None else self.comma
        return f"{self.star}{keyword}{self.value}{comma}{self.closing}"


@dataclass(frozen=True)
class CallText:
    """A call as written: the function's code, the layout from it to the first argument (`(` included) and the
    arguments. Read from the tokens of the call's code, it is all the table needs to read a call and write its
    TF form with the operands' code unchanged."""

    function: str
    opening: str
    args: tuple[ArgText, ...]

    @property
    def code(self) -> str:
        last = len(self.args) - 1
        return self.function + self.opening + "".join(a.code(i == last) for i, a in enumerate(self.args)) + ")"

    @classmethod
    def parse(cls, code: str) -> CallText:
        """The parts of a call's code (`np.dot(x, w)`: from the function's first character to the closing `)`)."""
        line_starts = [0] + [i + 1 for i, char in enumerate(code) if char == "\n"]
        layout = (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                  tokenize.ENDMARKER)
        tokens = [(token.string if token.type in (tokenize.OP, tokenize.NAME) else "",  # not `(` in f"(",
                   line_starts[token.start[0] - 1] + token.start[1], line_starts[token.end[0] - 1] + token.end[1])
                  for token in tokenize.generate_tokens(io.StringIO(code).readline) if token.type not in layout]
        depth, opening = 0, len(tokens) - 1  # the `(` that the last `)` closes
        while True:
            depth += {")": 1, "]": 1, "}": 1, "(": -1, "[": -1, "{": -1}.get(tokens[opening][0], 0)
            if depth == 0:
                break
            opening -= 1
        function_end, close = tokens[opening - 1][2], tokens[-1][1]
        parts: list[list[tuple[str, int, int]]] = []  # the tokens of each argument
        commas: list[int] = []  # where each argument's comma starts
        depth = 0
        for token in tokens[opening + 1:-1]:
            if depth == 0 and token[0] == ",":
                commas.append(token[1])
                continue
            if not parts or len(parts) == len(commas):
                parts.append([])
            parts[-1].append(token)
            depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(token[0], 0)
        starts = [part[0][1] for part in parts] + [close]
        args = []
        for index, part in enumerate(parts):
            end = part[-1][2]
            after = code[end:starts[index + 1]]
            comma, closing = (after, "") if index < len(commas) else (None, after)
            if part[0][0] in ("*", "**"):
                args.append(ArgText(code[part[1][1]:end], star=code[part[0][1]:part[1][1]], comma=comma,
                                    closing=closing))
            elif len(part) > 2 and part[1][0] == "=":
                args.append(ArgText(code[part[2][1]:end], keyword=part[0][0], equal=code[part[0][2]:part[2][1]],
                                    comma=comma, closing=closing))
            else:
                args.append(ArgText(code[part[0][1]:end], comma=comma, closing=closing))
        return cls(code[:function_end], code[function_end:starts[0]], tuple(args))


@lru_cache(maxsize=512)
def _syntax(code: str) -> ast.expr:
    """The `ast` of an expression's code, to ask what kind of expression it is."""
    try:
        return ast.parse(code.strip(), mode="eval").body
    except SyntaxError:  # an argument that needs parentheses to stand alone: `x := f()`, `x for x in xs`
        return ast.parse(f"({code})", mode="eval").body


def _part(code: str, node: ast.AST) -> str:
    """The code of a node of `_syntax(code)`, without the parentheses around it."""
    return ast.get_source_segment(code.strip(), node)


_NOT_A_LITERAL = object()
_ANY_VALUE = object()  # a parameter that never changes the result (einsum's `optimize`)
_Args = tuple[tuple[str, ArgText], ...]  # (numpy parameter name, the user's argument), in call order


@dataclass(frozen=True)
class _Plan:
    """What will be emitted: a TF op and the user's arguments, still keyed by numpy parameter name.

    Names that are not numpy parameters of the entry are TF keywords added by an adjust hook.
    """

    op: str
    args: _Args
    note: str
    namespace: str  # where `op` lives: the file's TensorFlow name, or a NumPy-compatible namespace


_Adjust = Callable[[_Plan, TranslationContext], "_Plan | Translation"]


@dataclass(frozen=True)
class _Entry:
    tf_op: str
    params: tuple[str, ...]  # numpy's positional parameter order; "*operands" is variadic
    operands: int = 1  # the leading params, emitted positionally in this order
    keywords: Mapping[str, str] = field(default_factory=dict)  # numpy param -> TF keyword
    defaults: Mapping[str, object] = field(default_factory=dict)  # params TF lacks: allowed only at this no-op value
    aliases: Mapping[str, str] = field(default_factory=dict)  # other numpy spelling -> param
    note: str = ""
    missing_operand_note: str = ""
    adjust: _Adjust | None = None


# --------------------------------------------------------------------------- expression helpers


def _literal(expr: str) -> object:
    """The Python value of a literal argument (`None`, `-1`, `'C'`, `(0, 2)`), else _NOT_A_LITERAL."""
    try:
        return ast.literal_eval(expr.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_A_LITERAL


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int_literal(expr: str) -> bool:
    value = _literal(expr)
    return isinstance(value, int) and not isinstance(value, bool)


def _rank(expr: str, ctx: TranslationContext) -> int | None:
    return 0 if _is_number(_literal(expr)) else ctx.rank_of(expr)


def _tf_function(ctx: TranslationContext, op: str) -> str:
    return f"{ctx.tf}.{op}"


def _op_name(plan: _Plan) -> str:
    return f"{plan.namespace}.{plan.op}"


def _numpy_compatible(plan: _Plan, ctx: TranslationContext, op: str) -> _Plan | None:
    """The plan with `op` of the file's NumPy-compatible namespace, if it has one that computes `op` as numpy."""
    if ctx.numpy_ops is None or (ctx.tnp and op not in NUMPY_COMPATIBLE_IN_TNP):
        return None
    return replace(plan, namespace=ctx.numpy_ops, op=op)


def _tf_call(ctx: TranslationContext, op: str, *args: str) -> str:
    return _call_in(ctx.tf, op, *args)


def _as_positional(arg: ArgText) -> ArgText:
    return replace(arg, keyword=None)


def _as_keyword(arg: ArgText, name: str) -> ArgText:
    if arg.keyword is None:  # the layout before `)` is not kept: _closing_layout gives it to the last argument
        return replace(arg, keyword=name, equal="=", closing="")
    return replace(arg, keyword=name)



# --------------------------------------------------------------------------- dtypes

_NUMPY_DTYPES = {  # numpy dtype name -> TF dtype name
    **{name: name for name in ("float16", "float32", "float64", "complex64", "complex128")},
    **{f"{sign}int{bits}": f"{sign}int{bits}" for sign in ("", "u") for bits in (8, 16, 32, 64)},
    "half": "float16",
    "single": "float32",
    "double": "float64",
    "bool": "bool",
    "bool_": "bool",
}
_BUILTIN_DTYPES = {"float": "float64", "int": "int64", "bool": "bool", "complex": "complex128"}


def _dtype_name(expr: str, ctx: TranslationContext) -> str | None:
    """The TF dtype name an argument denotes: `np.float32`, `'float32'`, `float`, `tf.int32`."""
    value = _literal(expr)
    if isinstance(value, str):
        return _NUMPY_DTYPES.get(value)
    module, _, name = (ctx.qualname(expr) or _unresolved_qualname(expr, ctx)).rpartition(".")
    if module == "builtins":
        return _BUILTIN_DTYPES.get(name)
    return _NUMPY_DTYPES.get(name) if module in ("numpy", "tensorflow") else None


def _unresolved_qualname(expr: str, ctx: TranslationContext) -> str:
    """Qualified names the numpy resolver leaves out: builtins (`float`) and the TF alias (`tf.int32`)."""
    if _is_name(_syntax(expr)):
        return f"builtins.{expr}"
    return "tensorflow." + expr.removeprefix(f"{ctx.tf}.") if ctx.tf and expr.startswith(f"{ctx.tf}.") else ""


def _is_name(node: ast.expr) -> bool:
    """A name, `True`, `False` or `None` included (Python's grammar spells them as names)."""
    return isinstance(node, ast.Name) or isinstance(node, ast.Constant) and (node.value is None or
                                                                            isinstance(node.value, bool))


def _tf_dtype(expr: str, ctx: TranslationContext) -> str | None:
    """The TF spelling of a numpy dtype argument; dtype strings such as 'float32' are valid in TF as-is."""
    name = _dtype_name(expr, ctx)
    if name is None:
        return None
    return expr if isinstance(_literal(expr), str) else _tf_function(ctx, name)


def _is_visibly_integer(expr: str, ctx: TranslationContext) -> bool:
    """True for arguments whose integer dtype shows in the source: `[1, 2]`, `x.astype(int)`,
    `tf.cast(x, tf.int32)`, `np.array(..., dtype=np.int64)`."""
    value = _literal(expr)
    if value is not _NOT_A_LITERAL:
        return _only_ints(value)
    node = _syntax(expr)
    if not isinstance(node, ast.Call):
        return False
    call = CallText.parse(_part(expr, node))
    dtypes = [arg.value for arg in call.args if arg.keyword == "dtype"]
    is_cast = call.function == f"{ctx.tf}.cast" or (isinstance(node.func, ast.Attribute) and node.func.attr == "astype")
    positional = [arg.value for arg in call.args if arg.keyword is None]
    if is_cast:
        dtypes += positional[-1:]
    return any((_dtype_name(dtype, ctx) or "").lstrip("u").startswith("int") for dtype in dtypes)


def _only_ints(value: object) -> bool:
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_only_ints(item) for item in value)
    return isinstance(value, int)


# --------------------------------------------------------------------------- plan helpers


def _arg(plan: _Plan, name: str) -> ArgText | None:
    return next((arg for param, arg in plan.args if param == name), None)


def _without(plan: _Plan, name: str) -> _Plan:
    return replace(plan, args=tuple((param, arg) for param, arg in plan.args if param != name))


def _with_value(plan: _Plan, name: str, value: str) -> _Plan:
    return replace(plan, args=tuple((param, replace(arg, value=value) if param == name else arg)
                                    for param, arg in plan.args))


def _with_keyword(plan: _Plan, name: str, value: str) -> _Plan:
    return replace(plan, args=plan.args + ((name, ArgText(value, keyword=name)),))


# --------------------------------------------------------------------------- adjust hooks


def _dot(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.dot is multiply for scalars, matmul for two matrices, and tensordot(axes=1) when rank(b) <= 2; with a
    rank that is not known, the NumPy-compatible dot (equal to np.dot for every rank pair)."""
    rank_a, rank_b = (_rank(_arg(plan, name).value, ctx) for name in ("a", "b"))
    if rank_a == 0 or rank_b == 0:  # a number goes second, as for np.multiply (see _number_first)
        plan = replace(plan, op="math.multiply")
        return _swapped(plan, "a", "b") if _only_first_is_a_number(_arg(plan, "a"), _arg(plan, "b")) else plan
    if rank_b is None:  # (an unknown rank of a is taken as >= 1: for a scalar, tensordot raises)
        return _numpy_compatible(plan, ctx, "dot") or Translation(
            None,
            "np.dot(a, b) equals tf.tensordot(a, b, axes=1) only when b has rank <= 2, "
            "and the rank of b is not known here",
        )
    if rank_b > 2:
        return _numpy_compatible(plan, ctx, "dot") or Translation(
            None,
            f"b has rank {rank_b}: np.dot contracts the last axis of a with the second-to-last axis of b; "
            "neither tf.linalg.matmul nor tf.tensordot(a, b, axes=1) computes that",
        )
    if rank_a == rank_b == 2:
        return replace(plan, op="linalg.matmul")
    return _with_keyword(replace(plan, op="tensordot"), "axes", "1")


def _matmul(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """tf.linalg.matmul needs rank >= 2 on both sides; when rank(b) <= 2 (and numpy's 1-D promotion
    may apply), tf.tensordot(a, b, axes=1) is exact for any rank of a; otherwise the NumPy-compatible matmul."""
    rank_a, rank_b = (_rank(_arg(plan, name).value, ctx) for name in ("x1", "x2"))
    if rank_a is not None and rank_b is not None and rank_a >= 2 and rank_b >= 2:
        return plan
    if rank_b in (1, 2):
        return _with_keyword(replace(plan, op="tensordot"), "axes", "1")
    return _numpy_compatible(plan, ctx, "matmul") or Translation(
        None,
        "np.matmul equals tf.linalg.matmul only when both operands have rank >= 2 "
        "(tf.linalg.matmul rejects vectors), and tf.tensordot(a, b, axes=1) only when b has rank <= 2; "
        "the ranks are not known here",
    )


def _explicit_tensordot_axes(plan: _Plan, ctx: TranslationContext) -> _Plan:
    """numpy's default axes=2 must be spelled out: tf.tensordot has no default."""
    return plan if _arg(plan, "axes") else _with_keyword(plan, "axes", "2")


def _string_subscripts(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    subscripts = _syntax(_arg(plan, "subscripts").value)
    if isinstance(subscripts, ast.JoinedStr) or isinstance(subscripts, ast.Constant) and \
            isinstance(subscripts.value, (str, bytes)):
        return plan
    return Translation(None, "only the string-subscripts form of np.einsum maps to tf.einsum, not the sublist form")


def _concatenate_axis(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.concatenate defaults to axis=0 and flattens for axis=None; tf.concat requires an axis."""
    axis = _arg(plan, "axis")
    if axis is None:
        return _with_keyword(plan, "axis", "0")
    if _literal(axis.value) is None:
        return Translation(None, "np.concatenate(..., axis=None) flattens the arrays first; tf.concat has no such mode")
    return plan


def _flatten_when_axis_is_none(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """Without an axis, np.argmax/np.cumsum work on the flattened array, while TF uses axis 0."""
    axis = _arg(plan, "axis")
    if axis is not None and _is_int_literal(axis.value):
        return plan
    if axis is not None and _literal(axis.value) is not None:
        return Translation(
            None,
            "the axis is not an int literal and may be None at run time: numpy then flattens the array, "
            f"while {_op_name(plan)} uses axis 0",
        )
    plan = _without(plan, "axis")
    array = _arg(plan, "a").value
    if _rank(array, ctx) == 1:
        return plan
    return _with_value(plan, "a", _tf_call(ctx, "reshape", array, "[-1]"))


def _int_axis(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    axis = _arg(plan, "axis")
    if axis is not None and _is_int_literal(axis.value):
        return plan
    return Translation(None, "tf.expand_dims takes one int axis; np.expand_dims also accepts a tuple of axes")


def _float_input(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """numpy averages integers in float64; TF truncates (mean) or rejects them (std/var)."""
    if _is_visibly_integer(_arg(plan, "a").value, ctx):
        return Translation(
            None, f"the argument is an integer array: numpy returns a float result, {_op_name(plan)} does not"
        )
    return plan


_COMMUTATIVE = frozenset({"math.add", "math.multiply", "math.maximum", "math.minimum"})
_OPERATORS = {"math.subtract": "-", "math.divide": "/", "math.truediv": "/", "math.pow": "**"}


def _number_first(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """In a graph (`fit`, tf.function) a TF binary op takes its dtype from its first argument:
    `tf.math.maximum(0, h)` makes 0 an int32 and fails on a float `h`. With a number first, a commutative op
    swaps its operands; the others become Python's operator, whose reflected form (`h.__rsub__(2)`) converts
    the number to the tensor's dtype, as numpy's weak scalar promotion does."""
    first, second = _arg(plan, "x1"), _arg(plan, "x2")
    if not _only_first_is_a_number(first, second):
        return plan
    if plan.op in _COMMUTATIVE:
        return _swapped(plan, "x1", "x2")
    operator = _OPERATORS.get(plan.op)
    if operator is None:
        return plan
    return Translation(f"({_operand(first.value, left=True)} {operator} {_operand(second.value)})", plan.note)


def _only_first_is_a_number(first: ArgText | None, second: ArgText | None) -> bool:
    return first is not None and second is not None and _is_number(_literal(first.value)) \
        and not _is_number(_literal(second.value))


def _swapped(plan: _Plan, first: str, second: str) -> _Plan:
    values = _arg(plan, first).value, _arg(plan, second).value
    return _with_value(_with_value(plan, first, values[1]), second, values[0])


def _operand(expr: str, left: bool = False) -> str:
    """An operand of a binary operator, in parentheses unless it needs none (a number, a name, a call, an
    attribute, a subscript; not a negative left operand: `(-2) ** x`)."""
    node = _syntax(expr)
    atom = isinstance(node, (ast.Name, ast.Call, ast.Attribute, ast.Subscript)) or isinstance(node, ast.Constant) \
        and (isinstance(node.value, (int, float)) or node.value is None)
    if atom and not (left and _part(expr, node).startswith("-")):
        return _part(expr, node)
    return f"({expr})"


def _number_branch_second(plan: _Plan, ctx: TranslationContext) -> _Plan:
    """`tf.where(c, 0, h)` fails in a graph as `tf.math.maximum(0, h)` does (the 0 becomes an int32): with a
    number as the first branch only, the condition is negated and the branches swapped."""
    if not _only_first_is_a_number(_arg(plan, "x"), _arg(plan, "y")):
        return plan
    condition = _arg(plan, "condition").value
    return _swapped(_with_value(plan, "condition", _tf_call(ctx, "math.logical_not", condition)), "x", "y")


def _shape_sequence(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """numpy takes `np.reshape(x, -1)`; tf.reshape takes a bare int only eagerly, and fails in a graph."""
    shape = _arg(plan, "shape")
    if shape is None or isinstance(_syntax(shape.value), (ast.Tuple, ast.List)):
        return plan
    if _is_int_literal(shape.value):
        return _with_value(plan, "shape", f"({shape.value.strip()},)")
    return Translation(None, "the shape may be a single int, which tf.reshape accepts only outside a graph; "
                             "write it as a tuple")


def _clip(plan: _Plan, ctx: TranslationContext) -> Translation:
    """np.clip(a, lo, hi) is minimum(maximum(a, lo), hi). tf.clip_by_value (and keras.ops.clip, built on it)
    computes maximum(minimum(a, hi), lo), which differs when lo > hi and cannot broadcast `a` to a larger
    shape, so it is only used for number literals with lo <= hi."""
    array, low, high = (_arg(plan, name) for name in ("a", "a_min", "a_max"))
    if low is None or high is None or _literal(low.value) is None or _literal(high.value) is None:
        return Translation(
            None,
            "np.clip with a None bound clips one side only; use tf.math.maximum / tf.math.minimum",
        )
    clip, maximum, minimum = ("clip_by_value", "math.maximum", "math.minimum") if plan.namespace == ctx.tf \
        else ("clip", "maximum", "minimum")
    low_value, high_value = _literal(low.value), _literal(high.value)
    if _is_number(low_value) and _is_number(high_value) and low_value <= high_value:
        return Translation(_call_in(plan.namespace, clip, array.value, low.value, high.value))
    lower_bounded = _call_in(plan.namespace, maximum, array.value, low.value)
    return Translation(_call_in(plan.namespace, minimum, lower_bounded, high.value))


def _call_in(namespace: str, op: str, *args: str) -> str:
    return f"{namespace}.{op}({', '.join(args)})"


def _take(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.take is tf.gather when the indices are non-negative int literals: numpy counts negative indices from
    the end, tf.gather rejects them on CPU and gives zeros on GPU. Other indices go to keras.ops.take, which
    wraps them as numpy does (tf.experimental.numpy.take clips them). Without an axis numpy takes from the
    flattened array."""
    axis = _arg(plan, "axis")
    if axis is not None and not _is_int_literal(axis.value) and _literal(axis.value) is not None:
        return _numpy_compatible(plan, ctx, "take") or Translation(
            None, "the axis is not an int literal and may be None at run time: numpy then takes from the flattened "
                  "array")
    indices = _literal(_arg(plan, "indices").value)
    if indices in ([], ()):
        return Translation(None, "an empty index list is a float array to numpy, which TF rejects as indices")
    if not (_only_ints(indices) and min(_flat(indices)) >= 0):
        return _numpy_compatible(plan, ctx, "take") or Translation(
            None, "the indices may be negative: numpy counts them from the end, tf.gather rejects them (CPU) or "
                  "gives zeros (GPU) and tf.experimental.numpy.take clips them")
    if axis is None or _literal(axis.value) is None:
        plan = _flatten_when_axis_is_none(plan, ctx)
    return replace(plan, op="gather")


def _flat(value: object) -> list[int]:
    return [item for part in value for item in _flat(part)] if isinstance(value, (list, tuple)) else [value]


def _split(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.split(a, n) is tf.split(a, n); np.split(a, [i, j]) cuts at indices where tf.split takes sizes:
    [i, j - i, -1]. Indices that are not literals may be either: keras.ops.split follows numpy."""
    sections = _arg(plan, "indices_or_sections")
    value = _literal(sections.value)
    axis = _arg(plan, "axis")
    if axis is not None and not _is_int_literal(axis.value):
        return _numpy_compatible(plan, ctx, "split") or Translation(None, "the axis is not an int literal")
    if _is_int_literal(sections.value):
        return plan
    if value in ([], ()):
        return _no_cuts()
    if isinstance(value, (list, tuple)) and _only_ints(value) and all(
            0 <= earlier <= later for earlier, later in zip((0, *value), value)):
        sizes = [later - earlier for earlier, later in zip((0, *value), value)] + [-1]
        return _with_value(plan, "indices_or_sections", str(sizes))
    return _numpy_compatible(plan, ctx, "split") or Translation(
        None, "the sections are not an int or a list of ascending non-negative int literals: numpy cuts at "
              "indices, tf.split takes sizes")


def _no_cuts() -> Translation:
    return Translation(None, "np.split(a, []) returns [a]; write that instead")


def _cuts_given(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """keras.ops.split takes numpy's sections and cut indices, but not an empty list of cuts."""
    return _no_cuts() if _literal(_arg(plan, "indices_or_sections").value) in ([], ()) else plan


def _sort_axis(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.sort and tf.sort both default to the last axis; with axis=None numpy sorts the flattened array. An
    axis that is not a literal may be None: keras.ops.sort follows numpy."""
    axis = _arg(plan, "axis")
    if axis is None or _literal(axis.value) is not _NOT_A_LITERAL:
        return plan if axis is None else _flatten_when_axis_is_none(plan, ctx)
    return _numpy_compatible(plan, ctx, "sort") or _flatten_when_axis_is_none(plan, ctx)


_INFINITY = float("inf")


def _norm(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """np.linalg.norm takes a vector norm over one axis, a matrix norm over an axis pair and, without an axis,
    picks by the rank. ord=None is the 2-norm of the flattened array or the Frobenius norm: TF's default
    'euclidean' over the same axes. With an order, vector norms p > 0 (inf included) and matrix norms 'fro', 1,
    2, inf map to tf.norm; numpy's others (0, negative orders, 'nuc') have no TF form."""
    order_arg = _arg(plan, "ord")
    if order_arg is None or _literal(order_arg.value) is None:
        return _without(plan, "ord")
    order = _norm_order(order_arg.value, ctx)
    if order is None:
        return Translation(None, "the order is not a literal: numpy's norms of some orders have no TF form")
    axis = _arg(plan, "axis")
    axis_value = None if axis is None else _literal(axis.value)
    rank = _rank(_arg(plan, "x").value, ctx)
    if isinstance(axis_value, tuple) and len(axis_value) == 2 and _only_ints(axis_value):
        matrix = True
    elif axis is not None and _is_int_literal(axis.value):
        matrix = False
    elif axis_value is None and rank in (1, 2):
        matrix = rank == 2
    else:
        return Translation(None, "with an order, numpy takes a vector or a matrix norm by the axis or the rank, "
                                 "which are not known here")
    if matrix and order == "fro":
        return _without(plan, "ord")
    if matrix and order in (1.0, 2.0, _INFINITY):
        if axis_value is not None:
            return plan
        last_two = "(-2, -1)"
        return _with_value(plan, "axis", last_two) if axis is not None else _with_keyword(plan, "axis", last_two)
    if not matrix and isinstance(order, float) and order > 0:
        return plan
    kind = "matrix" if matrix else "vector"
    return Translation(None, f"numpy's {kind} norm of order `{order_arg.value.strip()}` is not mapped "
                             "(tf.norm has no such order)")


def _keras_norm(plan: _Plan, ctx: TranslationContext) -> _Plan | Translation:
    """_norm, and: keras.ops.norm without an axis or an order fails on rank > 2, where numpy's 2-norm of the
    flattened array is keras.ops.norm of the array reshaped to a vector (not with keepdims: numpy keeps every
    axis then); its matrix 2-norm with keepdims is wrong over a descending axis pair such as (1, 0)."""
    plan = _norm(plan, ctx)
    if isinstance(plan, Translation):
        return plan
    axis, keepdims, array = _arg(plan, "axis"), _arg(plan, "keepdims"), _arg(plan, "x").value
    order = _arg(plan, "ord")
    if order is not None:
        pair = None if axis is None else _literal(axis.value)
        if _norm_order(order.value, ctx) == 2.0 and isinstance(pair, tuple) and not pair[0] < pair[1] \
                and keepdims is not None and _literal(keepdims.value) is not False:
            return Translation(None, "keras.ops.norm of order 2 over a descending axis pair with keepdims puts "
                                     "the kept axes in the wrong place or raises (measured, Keras 3.15)")
        return plan
    if axis is not None and _literal(axis.value) is not None or _rank(array, ctx) in (1, 2):
        return plan
    if keepdims is not None and _literal(keepdims.value) is not False:
        return Translation(None, "keras.ops.norm takes no norm over every axis of an array of rank > 2, and with "
                                 "keepdims numpy's result is not the norm of the flattened array")
    flat = _call_in(plan.namespace, "reshape", array, "(-1,)")
    return _with_value(_without(_without(plan, "axis"), "keepdims"), "x", flat)


def _norm_order(expr: str, ctx: TranslationContext) -> float | str | None:
    """The order of a norm: a number, +-inf (`np.inf`, `-math.inf`), 'fro', 'nuc'; None when not a literal."""
    value = _literal(expr)
    if _is_number(value):
        return float(value)
    if value in ("fro", "nuc"):
        return value
    node = _syntax(expr)
    negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
    if ctx.qualname(_part(expr, node.operand) if negative else expr) in ("numpy.inf", "math.inf"):
        return -_INFINITY if negative else _INFINITY
    return None


# --------------------------------------------------------------------------- the table

_UFUNC_DEFAULTS = {
    "out": None,
    "where": True,
    "casting": "same_kind",
    "order": "K",
    "dtype": None,
    "subok": True,
    "signature": None,
}
_REDUCTION_KEYWORDS = {"axis": "axis", "keepdims": "keepdims"}
_REDUCTION_DEFAULTS = {"dtype": None, "out": None, "where": True}
_JOIN_DEFAULTS = {"out": None, "dtype": None, "casting": "same_kind"}


def _not_differentiable(op: str) -> str:
    return f"tf.{op} is not differentiable: gradients through it are None (GF501)"


def _ufunc(tf_op: str, arity: int, note: str = "") -> _Entry:
    params = ("x",) if arity == 1 else ("x1", "x2")
    return _Entry(tf_op, params + ("out",), operands=arity, defaults=_UFUNC_DEFAULTS, note=note,
                  adjust=_number_first if arity == 2 else None)


def _reduction(tf_op: str, params: tuple[str, ...], note: str = "", adjust: _Adjust | None = None) -> _Entry:
    # Assumes floating-point tensors, as on a model's forward path. numpy widens int32 sums and
    # products to int64 while TF overflows in int32; mean/std/var of integers differ outright, so
    # _float_input refuses them when the integer dtype is visible in the source.
    defaults = {**_REDUCTION_DEFAULTS, "ddof": 0, "correction": 0} if "ddof" in params else _REDUCTION_DEFAULTS
    return _Entry(tf_op, params, keywords=_REDUCTION_KEYWORDS, defaults=defaults, note=note, adjust=adjust)


def _index_reduction(tf_op: str) -> _Entry:
    return _Entry(
        tf_op,
        ("a", "axis", "out"),
        keywords={"axis": "axis"},
        defaults={"out": None, "keepdims": False},
        note=_not_differentiable(tf_op) + "; ties resolve to the first index as in numpy (on CPU), "
        "but numpy picks a NaN while TF skips it",
        adjust=_flatten_when_axis_is_none,
    )


def _cumulative(tf_op: str) -> _Entry:
    return _Entry(
        tf_op,
        ("a", "axis", "dtype", "out"),
        keywords={"axis": "axis"},
        defaults={"dtype": None, "out": None},
        adjust=_flatten_when_axis_is_none,
    )


def _like(tf_op: str) -> _Entry:
    return _Entry(
        tf_op,
        ("a", "dtype", "order", "subok", "shape"),
        keywords={"dtype": "dtype"},
        defaults={"order": "K", "subok": True, "shape": None, "device": None},
    )


_ROUND = _Entry(
    "math.round",
    ("a", "decimals", "out"),
    defaults={"decimals": 0, "out": None},
    note=_not_differentiable("math.round") + "; numpy and TF both round half to even",
)

_UNARY = {
    "exp": "math.exp",
    "log": "math.log",
    "log1p": "math.log1p",
    "expm1": "math.expm1",
    "sqrt": "math.sqrt",
    "square": "math.square",
    "abs": "math.abs",
    "absolute": "math.abs",
    "negative": "math.negative",
    "reciprocal": "math.reciprocal",
    "tanh": "math.tanh",
    "sin": "math.sin",
    "cos": "math.cos",
    "tan": "math.tan",
    "arctan": "math.atan",
}
_BINARY = {
    "add": "math.add",
    "subtract": "math.subtract",
    "multiply": "math.multiply",
    "divide": "math.divide",
    "true_divide": "math.truediv",
    "power": "math.pow",
    "maximum": "math.maximum",
    "minimum": "math.minimum",
}  # not arctan2: tf.math.atan2 ignores signed zeros (atan2(-0.0, -1.0) is +pi, numpy gives -pi)

_TABLE: dict[str, _Entry] = {
    **{name: _ufunc(op, 1) for name, op in _UNARY.items()},
    **{name: _ufunc(op, 2) for name, op in _BINARY.items()},
    "sign": _ufunc("math.sign", 1, note="the gradient of tf.math.sign is zero everywhere"),
    "floor": _ufunc("math.floor", 1, note=_not_differentiable("math.floor")),
    "ceil": _ufunc("math.ceil", 1, note=_not_differentiable("math.ceil")),
    "round": _ROUND,
    "around": _ROUND,
    "dot": _Entry("tensordot", ("a", "b", "out"), operands=2, defaults={"out": None}, adjust=_dot),
    "matmul": _Entry("linalg.matmul", ("x1", "x2", "out"), operands=2, defaults=_UFUNC_DEFAULTS, adjust=_matmul),
    "tensordot": _Entry(
        "tensordot", ("a", "b", "axes"), operands=2, keywords={"axes": "axes"}, adjust=_explicit_tensordot_axes
    ),
    "einsum": _Entry(
        "einsum",
        ("subscripts", "*operands"),
        operands=2,
        defaults={"out": None, "optimize": _ANY_VALUE, "dtype": None, "order": "K", "casting": "safe"},
        adjust=_string_subscripts,
    ),
    "sum": _reduction("math.reduce_sum", ("a", "axis", "dtype", "out", "keepdims")),
    "prod": _reduction("math.reduce_prod", ("a", "axis", "dtype", "out", "keepdims")),
    "mean": _reduction(
        "math.reduce_mean",
        ("a", "axis", "dtype", "out", "keepdims"),
        note="exact for floating-point tensors (TF truncates the mean of integers)",
        adjust=_float_input,
    ),
    **{name: _reduction("math.reduce_max", ("a", "axis", "out", "keepdims")) for name in ("max", "amax")},
    **{name: _reduction("math.reduce_min", ("a", "axis", "out", "keepdims")) for name in ("min", "amin")},
    "std": _reduction("math.reduce_std", ("a", "axis", "dtype", "out", "ddof", "keepdims"), adjust=_float_input),
    "var": _reduction("math.reduce_variance", ("a", "axis", "dtype", "out", "ddof", "keepdims"), adjust=_float_input),
    "argmax": _index_reduction("math.argmax"),
    "argmin": _index_reduction("math.argmin"),
    "cumsum": _cumulative("math.cumsum"),
    "cumprod": _cumulative("math.cumprod"),
    "concatenate": _Entry(
        "concat",
        ("arrays", "axis", "out"),
        keywords={"axis": "axis"},
        defaults=_JOIN_DEFAULTS,
        adjust=_concatenate_axis,
    ),
    "stack": _Entry("stack", ("arrays", "axis", "out"), keywords={"axis": "axis"}, defaults=_JOIN_DEFAULTS),
    "reshape": _Entry(
        "reshape",
        ("a", "shape", "order"),
        keywords={"shape": "shape"},
        defaults={"order": "C", "copy": None},
        aliases={"newshape": "shape"},
        adjust=_shape_sequence,
    ),
    "transpose": _Entry("transpose", ("a", "axes"), keywords={"axes": "perm"}),
    "expand_dims": _Entry("expand_dims", ("a", "axis"), keywords={"axis": "axis"}, adjust=_int_axis),
    "squeeze": _Entry("squeeze", ("a", "axis"), keywords={"axis": "axis"}),
    "clip": _Entry(
        "clip_by_value",
        ("a", "a_min", "a_max", "out"),
        operands=3,
        defaults={"out": None},
        aliases={"min": "a_min", "max": "a_max"},
        adjust=_clip,
    ),
    "where": _Entry(
        "where",
        ("condition", "x", "y"),
        operands=3,
        missing_operand_note="np.where(condition) returns a tuple of index arrays; "
        "tf.where(condition) returns one [n, rank] tensor of indices",
        adjust=_number_branch_second,
    ),
    "zeros_like": _like("zeros_like"),
    "ones_like": _like("ones_like"),
    "linalg.norm": _Entry(
        "linalg.norm",
        ("x", "ord", "axis", "keepdims"),
        keywords={"ord": "ord", "axis": "axis", "keepdims": "keepdims"},
        adjust=_norm,
    ),
    "take": _Entry(  # the indices as a keyword: only the array's dtype decides the result's
        "gather",
        ("a", "indices", "axis", "out", "mode"),
        keywords={"indices": "indices", "axis": "axis"},
        defaults={"out": None, "mode": "raise"},
        adjust=_take,
    ),
    "split": _Entry(
        "split",
        ("ary", "indices_or_sections", "axis"),
        keywords={"indices_or_sections": "num_or_size_splits", "axis": "axis"},
        adjust=_split,
    ),
    "sort": _Entry(
        "sort",
        ("a", "axis", "kind", "order"),
        keywords={"axis": "axis"},
        defaults={"kind": _ANY_VALUE, "order": None, "stable": None},
        adjust=_sort_axis,
    ),
}

# Functions whose result is indices: no gradient flows through them whatever computes them, so the call is
# reported with what to write instead, not rewritten.
_INDEX_RESULTS = {
    "argsort": "np.argsort returns indices, which carry no gradient (and tf.argsort may order ties differently): "
               "sort the values with tf.sort, or pick values by the indices with tf.gather",
    **{name: f"np.{name} returns the indices of the non-zero entries, which carry no gradient: keep the values "
             "with tf.where(mask, x, 0) or tf.boolean_mask" for name in ("argwhere", "nonzero", "flatnonzero")},
    **{name: f"np.{name} returns bucket indices, which carry no gradient" for name in ("searchsorted", "digitize")},
}

# What keras.ops (and, for dot and matmul, tf.experimental.numpy) computes as numpy does, property-tested against
# numpy (tests/test_numpy_to_tf_properties.py): numpy function -> (its name there, the check of its call form).
# keras.ops follows numpy's semantics, so ranks and axes need no adjusting; argmax/argmin are left out
# (keras.ops gives int32 where numpy gives int64).
_KERAS_OPS: dict[str, tuple[str, _Adjust | None]] = {
    **{name: (name, None) for name in (
        *_UNARY, *_BINARY, "sign", "floor", "ceil", "dot", "matmul", "tensordot", "sum", "prod", "max", "amax",
        "min", "amin", "cumsum", "cumprod", "stack", "transpose", "squeeze", "zeros_like", "ones_like", "where",
        "take", "sort")},
    **{name: ("round", None) for name in ("round", "around")},
    **{name: (name, _float_input) for name in ("mean", "std", "var")},
    "einsum": ("einsum", _string_subscripts),
    "concatenate": ("concatenate", _concatenate_axis),
    "reshape": ("reshape", _shape_sequence),
    "expand_dims": ("expand_dims", _int_axis),
    "clip": ("clip", _clip),
    "linalg.norm": ("norm", _keras_norm),
    "split": ("split", _cuts_given),
}
_KERAS_KEYWORDS = {"shape": "newshape"}  # numpy parameter -> keras.ops keyword, where they differ
NUMPY_COMPATIBLE_IN_TNP = frozenset({"dot", "matmul"})

MAPPED_FUNCTIONS: frozenset[str] = frozenset(_TABLE)
KERAS_OPS_FUNCTIONS: frozenset[str] = frozenset(_KERAS_OPS)  # what a file without TensorFlow can have rewritten


def operand_count(function: str) -> int:
    """How many leading positional arguments of np.<function> are its array operands (1 when not mapped)."""
    entry = _TABLE.get(function)
    return entry.operands if entry else 1


# --------------------------------------------------------------------------- translate


def _bind(entry: _Entry, call: CallText) -> _Args | str:
    """Name each argument after numpy's parameter, or say why the call cannot be checked."""
    bound = []
    for position, arg in enumerate(call.args):
        if arg.star:
            return "the call passes *args/**kwargs, so its arguments cannot be checked"
        if arg.keyword is not None:
            bound.append((entry.aliases.get(arg.keyword, arg.keyword), arg))
        elif entry.params[-1].startswith("*") and position >= len(entry.params) - 1:
            bound.append((entry.params[-1], arg))
        elif position < len(entry.params):
            bound.append((entry.params[position], arg))
        else:
            return "more positional arguments than numpy accepts"
    return tuple(bound)


def _is_no_op(value: object, default: object) -> bool:
    return default is _ANY_VALUE or (type(value) is type(default) and value == default)


def _drop_no_op_arguments(entry: _Entry, args: _Args, function: str) -> _Args | str:
    """Keep what TF takes, drop arguments at numpy's no-op default, and refuse anything else."""
    kept = []
    operand_params = entry.params[: entry.operands]
    for param, arg in args:
        if param in operand_params or param in entry.keywords:
            kept.append((param, arg))
        elif param not in entry.defaults or not _is_no_op(_literal(arg.value), entry.defaults[param]):
            return f"np.{function}(..., {param}=...) has no exact equivalent in tf.{entry.tf_op}"
    return tuple(kept)


def _render(plan: _Plan, entry: _Entry, call: CallText, ctx: TranslationContext) -> Translation:
    operand_params = entry.params[: entry.operands]
    operands = sorted(
        ((param, arg) for param, arg in plan.args if param in operand_params),
        key=lambda bound: operand_params.index(bound[0]),
    )
    args = [_as_positional(arg) for _, arg in operands]
    tensorflow = plan.namespace == ctx.tf
    for param, arg in plan.args:
        if param in operand_params:
            continue
        if param == "dtype":
            dtype = _tf_dtype(arg.value, ctx) if tensorflow else _dtype_string(arg.value, ctx)
            if dtype is None:
                return Translation(None, "the dtype argument is not a numpy dtype with a TF counterpart")
            arg = replace(arg, value=dtype)
        keyword = entry.keywords.get(param, param) if tensorflow else _KERAS_KEYWORDS.get(param, param)
        args.append(_as_keyword(arg, keyword))
    rendered = replace(call, function=_op_name(plan), args=_closing_layout(args, call))
    return Translation(rendered.code, plan.note)


def _dtype_string(expr: str, ctx: TranslationContext) -> str | None:
    """A numpy dtype argument as the dtype string keras.ops takes: `float` means float64 to numpy, floatx to Keras."""
    name = _dtype_name(expr, ctx)
    return None if name is None else f'"{name}"'


def _closing_layout(args: list[ArgText], call: CallText) -> tuple[ArgText, ...]:
    """Give the user's trailing comma and the layout before `)` (newline, comment) to whichever
    argument now comes last, after dropping or reordering arguments."""
    closing = call.args[-1]
    inner = [replace(arg, closing="") if arg.comma is None else arg for arg in args[:-1]]
    return (*inner, replace(args[-1], comma=closing.comma, closing=closing.closing))


def translate(function: str, call: CallText, ctx: TranslationContext) -> Translation | None:
    """Translate a numpy call (`np.dot(x, w)`, `dot(x, w)`, ...) to its exact TF equivalent.

    `function` is the numpy name without the "numpy." prefix. Returns None when the function is
    not in the table, and Translation(None, note) when this call form has no exact equivalent.
    """
    entry = _TABLE.get(function)
    if entry is None:
        return Translation(None, _INDEX_RESULTS[function]) if function in _INDEX_RESULTS else None
    args = _bind(entry, call)
    if isinstance(args, tuple):
        args = _drop_no_op_arguments(entry, args, function)
    if isinstance(args, str):
        return Translation(None, args)
    bound = {param for param, _ in args}
    missing = [param for param in entry.params[: entry.operands] if param not in bound and not param.startswith("*")]
    if missing:
        return Translation(None, entry.missing_operand_note or f"np.{function} is called without `{missing[0]}`")
    if ctx.tf is None:  # the file must not use TensorFlow: keras.ops only
        if ctx.numpy_ops is None:
            return Translation(None, "the file uses no TensorFlow (backend-agnostic Keras 3) and has no name for "
                                     "keras.ops (`import keras` or `from keras import ops` would give one)")
        if function not in _KERAS_OPS:
            return Translation(None, f"the file uses no TensorFlow (backend-agnostic Keras 3) and "
                                     f"{ctx.numpy_ops} has no exact equivalent of np.{function}")
        op, adjust = _KERAS_OPS[function]
        tf_op = f"tf.{entry.tf_op}"  # notes on TF's own behaviour (integer means) do not apply to keras.ops
        note = entry.note.replace(tf_op, f"{ctx.numpy_ops}.{op}") if tf_op in entry.note else ""
        plan: _Plan | Translation = _Plan(op, args, note, ctx.numpy_ops)
    else:
        plan, adjust = _Plan(entry.tf_op, args, entry.note, ctx.tf), entry.adjust
    if adjust is not None:
        plan = adjust(plan, ctx)
    if isinstance(plan, Translation):
        return plan
    return _render(plan, entry, call, ctx)
