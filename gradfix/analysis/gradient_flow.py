"""Gradient flow through one function or module: which seeds (weights, sub-layers, a differentiated model,
parameters) each value carries a gradient from, and which ops with no gradient (`tf.round`, `tf.argmax`,
integer casts, `py_function`, ...) cut seeds off from the values that matter (a layer's output, a tape's
target, a loss, a functional model's outputs).

Calls of the file's own functions and methods (helpers, functions called in a tape, loss functions, the
functions of `Lambda` layers) are followed through per-function summaries: which parameters reach the
return value, and which ops inside cut which parameters off.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from gradfix.analysis.reaching import ReachingDefinitions
from gradfix.analysis.ops import NoGradient, no_gradient_kind
from gradfix.analysis.tapes import keyword_argument, own_nodes
from gradfix.analysis.tensors import SHAPE_ATTRS


# Ops whose result is a comparison of their arguments: no gradient, and never a cut worth reporting by
# itself, but a count or a cast behind them is still fed by the compared values.
COMPARISONS = frozenset({"equal", "not_equal", "greater", "greater_equal", "less", "less_equal", "logical_and",
                         "logical_or", "logical_not", "is_nan", "is_finite"})

# How a value flows through a TensorFlow / Keras op: through all its tensor arguments, or its first only
# (`tf.gather(params, indices)`: the indices carry no gradient). Ops in neither set stop the analysis.
ALL_ARGUMENTS = frozenset({
    "add", "subtract", "multiply", "divide", "truediv", "true_divide", "maximum", "minimum", "pow", "power",
    "matmul", "tensordot", "einsum", "concat", "concatenate", "stack", "add_n", "squared_difference",
    "divide_no_nan", "multiply_no_nan", "dot", "batch_dot", "bias_add", "hstack", "vstack", "mse", "mae",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "sigmoid_cross_entropy_with_logits", "softmax_cross_entropy_with_logits", "mean_squared_error",
    "mean_absolute_error", "huber", "log_cosh", "kl_divergence", "cosine_similarity"})
FIRST_ARGUMENT = frozenset({
    "reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod", "reduce_logsumexp", "reduce_std",
    "reduce_variance", "sum", "mean", "max", "min", "prod", "logsumexp", "std", "var", "reshape", "transpose",
    "expand_dims", "squeeze", "tile", "broadcast_to", "identity", "gather", "gather_nd", "take",
    "take_along_axis", "clip_by_value", "clip", "pad", "cumsum", "cumprod", "slice", "split", "unstack",
    "boolean_mask", "convert_to_tensor", "abs", "exp", "log", "log1p", "expm1", "sqrt", "square", "rsqrt",
    "tanh", "sigmoid", "relu", "relu6", "gelu", "softmax", "log_softmax", "elu", "selu", "softplus", "softsign",
    "swish", "silu", "leaky_relu", "l2_normalize", "normalize", "sin", "cos", "negative", "reciprocal", "erf",
    "dropout", "repeat", "reverse", "flip", "roll", "moveaxis", "swapaxes", "flatten", "ravel", "norm",
    "l2_loss", "cast"})
WHERE_VALUES = frozenset({"where"})  # where(condition, x, y): only x and y carry gradient
VALUE_KEYWORDS = frozenset({"x", "y", "a", "b", "tensor", "input", "input_tensor", "inputs", "logits",
                            "features", "params", "value", "values", "y_pred", "y_true", "labels", "predictions"})
NON_VALUE_KEYWORDS = frozenset({"training", "mask", "attention_mask", "axis", "dtype", "name", "shape", "indices",
                                "depth", "keepdims", "perm", "batch_dims", "segment_ids", "seed", "rate",
                                "sample_weight", "return_dict", "output_attentions", "output_hidden_states",
                                "use_cache"})
VALUE_BUILTINS = frozenset({"sum", "max", "min", "abs"})
PYTHON_CONVERSIONS = frozenset({"float", "int", "bool", "len", "str", "range", "print", "isinstance"})


def cut_inputs(call: ast.Call) -> list[ast.AST]:
    """The arguments whose gradient the op drops: the tensor given to it (`inp` for py_function)."""
    args = list(call.args)
    if keyword_argument(call, "inp") is not None:
        return [keyword_argument(call, "inp")]
    name = _last_name(call.func)
    if name in ("py_function", "numpy_function", "py_func"):
        return args[1:2]
    first = keyword_argument(call, "x") or keyword_argument(call, "input") or keyword_argument(call, "indices")
    return args[:1] or ([first] if first is not None else [])


def _last_name(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


# --- resolving the file's own functions ---------------------------------------------------------------------
Function = ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda


@dataclass
class Callee:
    """A function of the file a call runs, with each argument expression given to the parameter it binds;
    `op` when the call is a `Lambda` layer of a TF op (`Lambda(K.cast, arguments={"dtype": "int32"})(x)`),
    written as the call it stands for."""

    function: Function | None
    arguments: list[tuple[str, ast.AST]] = field(default_factory=list)
    op: ast.Call | None = None


class FunctionIndex:
    """The functions and methods of one file: module functions, methods per class, nested functions and
    lambdas bound to names, so a call can be followed into its body."""

    def __init__(self, tree: ast.Module, imports):
        self.imports = imports
        self.module_functions: dict[str, Function] = {}
        self.class_of: dict[int, ast.ClassDef] = {}
        self.enclosing: dict[int, ast.AST] = {}  # function id -> the function or module it is defined in
        self.nested: dict[int, dict[str, Function]] = {}
        self._summaries: dict[int, Summary | None] = {}
        stack: list[tuple[ast.AST, ast.AST, ast.ClassDef | None]] = [(tree, tree, None)]
        while stack:
            node, scope, owner = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.enclosing[id(child)] = scope
                    if owner is not None and node is owner:
                        self.class_of[id(child)] = owner
                    elif scope is tree:
                        self.module_functions.setdefault(child.name, child)
                    else:
                        self.nested.setdefault(id(scope), {}).setdefault(child.name, child)
                    stack.append((child, child, None))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, scope, child))
                elif isinstance(child, ast.Assign) and isinstance(child.value, ast.Lambda) \
                        and len(child.targets) == 1 and isinstance(child.targets[0], ast.Name):
                    table = self.module_functions if scope is tree else self.nested.setdefault(id(scope), {})
                    table.setdefault(child.targets[0].id, child.value)
                    stack.append((child, scope, owner))
                elif not isinstance(child, ast.Lambda):
                    stack.append((child, scope, owner))

    def summary(self, function: Function) -> "Summary | None":
        """What `function` does with its parameters; None for a function being summarised (recursion)."""
        key = id(function)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = None
        reaching = ReachingDefinitions(function)
        parameters = {name: frozenset({name}) for name in reaching.parameters}
        sinks = [function.body] if isinstance(function, ast.Lambda) else \
            [n.value for n in own_nodes(function) if isinstance(n, ast.Return) and n.value is not None]
        flow = GradientFlow(function, self.imports, self, lambda node: None, sinks, parameters)
        carries = frozenset().union(*(flow.labels(s) for s in sinks))
        feeds = frozenset().union(*(flow.labels(s, FED) for s in sinks))
        summary = Summary(carries, feeds, list(flow.cuts()))
        self._summaries[key] = summary
        return summary

    def methods_of(self, cls: ast.ClassDef) -> dict[str, ast.FunctionDef]:
        return {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def function_named(self, name: str, scope: ast.AST) -> Function | None:
        while scope is not None:
            found = self.nested.get(id(scope), {}).get(name)
            if found is not None:
                return found
            scope = self.enclosing.get(id(scope))
        return self.module_functions.get(name)

    def resolve(self, call: ast.Call, scope: ast.AST) -> Callee | None:
        """The callee of `f(...)`, `self.method(...)`, `Lambda(fn)(x)`; None when it is not the file's own."""
        func = call.func
        if isinstance(func, ast.Call) and self.imports.qualname(func.func) == "keras.layers.Lambda" and func.args:
            return self._lambda_layer(func, call, scope)
        if isinstance(func, ast.Name):
            function = self.function_named(func.id, scope)
            return Callee(function, _bind(function, call, bound=False)) if function is not None else None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            cls = self.class_of.get(id(scope))
            method = self.methods_of(cls).get(func.attr) if cls is not None else None
            if method is not None and method.name not in ("call", "__call__"):
                static = any(_last_name(d) == "staticmethod" for d in method.decorator_list)
                return Callee(method, _bind(method, call, bound=not static))
        return None

    def _lambda_layer(self, layer: ast.Call, call: ast.Call, scope: ast.AST) -> Callee | None:
        fn = layer.args[0]
        if isinstance(fn, ast.Lambda):
            return Callee(fn, _bind(fn, call, bound=False))
        if isinstance(fn, ast.Name) and self.function_named(fn.id, scope) is not None:
            function = self.function_named(fn.id, scope)
            return Callee(function, _bind(function, call, bound=False))
        extra = keyword_argument(layer, "arguments")
        keywords = [ast.keyword(arg=k.value, value=v) for k, v in zip(extra.keys, extra.values)
                    if isinstance(k, ast.Constant)] if isinstance(extra, ast.Dict) else []
        op = ast.Call(func=fn, args=list(call.args[:1]), keywords=keywords)
        return Callee(None, op=ast.copy_location(op, call))


def _bind(function: Function, call: ast.Call, bound: bool) -> list[tuple[str, ast.AST]]:
    args = function.args
    positional = [a.arg for a in args.posonlyargs + args.args][1 if bound else 0:]
    pairs = []
    for name, value in zip(positional, call.args):
        if isinstance(value, ast.Starred):
            break
        pairs.append((name, value))
    known = {a.arg for a in args.posonlyargs + args.args + args.kwonlyargs}
    pairs += [(k.arg, k.value) for k in call.keywords if k.arg in known]
    return pairs


# --- the flow ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cut:
    """An op with no gradient (in the flow's function or in a function it calls) and the seeds it cuts off."""

    op: ast.Call
    kind: NoGradient
    lost: frozenset[str]
    function: Function | None = None  # the called function the op is in, when not the flow's own
    via: ast.Call | None = None  # the call of that function


@dataclass
class Summary:
    """What a function does with its parameters: which reach its return value through differentiable
    ops, and which ops inside cut which parameters off."""

    carries: frozenset[str]
    feeds: frozenset[str]
    cuts: list[Cut]


Seed = Callable[[ast.AST], "str | None"]
DIFFERENTIABLE, FED = "differentiable", "fed"


class GradientFlow:
    """Seeds of every value of `scope` (a function, lambda or module), flow-sensitively by reaching
    definitions. `seed(node)` names the seed a node is (a weight, a sub-layer's call); `parameters` maps a
    parameter to the seeds it holds on entry. `sinks` are the values whose gradient matters."""

    def __init__(self, scope: ast.AST, imports, functions: FunctionIndex, seed: Seed, sinks: list[ast.AST],
                 parameters: dict[str, frozenset[str]] | None = None, include: Callable[[ast.AST], bool] | None = None):
        self.scope = scope
        self.imports = imports
        self.functions = functions
        self.seed = seed
        self.sinks = sinks
        self.parameters = parameters or {}
        self.include = include or (lambda node: True)
        self.reaching = ReachingDefinitions(scope)
        self._values: dict[tuple[str, int], frozenset[str]] = {}
        self._solve()

    # --- seeds of a value ----------------------------------------------------------------------------
    def _solve(self) -> None:
        bindings = [b for bs in self.reaching.by_name.values() for b in bs if b.value is not None]
        changed = True
        while changed:
            changed = False
            for mode in (DIFFERENTIABLE, FED):
                for binding in bindings:
                    labels = self.labels(binding.value, mode)
                    key = (mode, id(binding))
                    if labels != self._values.get(key, frozenset()):
                        self._values[key] = labels
                        changed = True

    def labels(self, expr: ast.AST, mode: str = DIFFERENTIABLE) -> frozenset[str]:
        """The seeds whose gradient the value carries (DIFFERENTIABLE), or that it is computed from up to the
        nearest op without a gradient, comparisons and shapes included (FED)."""
        found: set[str] = set()
        for node in self.value_nodes(expr, mode):
            label = self.seed(node) if self.include(node) else None
            if label:
                found.add(label)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                bindings, entry = self.reaching.reaching(node)
                for binding in bindings:
                    found |= self._values.get((mode, id(binding)), frozenset())
                if entry:
                    found |= self.parameters.get(node.id, frozenset())
        return frozenset(found)

    def value_nodes(self, expr: ast.AST, mode: str) -> Iterator[ast.AST]:
        """The expression and every sub-expression whose value flows into it, stopping at ops without a
        gradient (yielded, not entered)."""
        stack = [expr]
        while stack:
            node = stack.pop()
            yield node
            if isinstance(node, ast.Call):
                if no_gradient_kind(node, self.imports) is None:
                    stack.extend(self._value_arguments(node, mode))
            else:
                stack.extend(_value_children(node, through_comparisons=mode == FED))

    def _value_arguments(self, call: ast.Call, mode: str) -> list[ast.AST]:
        callee = self.callee(call)
        if callee is not None:
            if callee.op is not None:
                return [] if no_gradient_kind(callee.op, self.imports) else _op_arguments_or_first(callee.op, self)
            summary = self.summary(callee.function)
            if summary is not None:
                passing = summary.carries if mode == DIFFERENTIABLE else summary.feeds
                return [value for name, value in callee.arguments if name in passing]
        func = call.func
        qualname = self.imports.qualname(func)
        if qualname is not None:
            op = qualname.rsplit(".", 1)[-1]
            if mode == FED and op in COMPARISONS:
                return [*call.args]
            if qualname.startswith(("tensorflow.", "keras.ops.", "keras.activations.", "keras.backend.",
                                    "keras.losses.")):
                return self._op_arguments(call, op)
            if qualname.startswith("numpy."):
                return []  # GF101/GF402's business
            return _all_arguments(call)  # functions of the user's other modules
        if isinstance(func, ast.Name):
            if func.id in PYTHON_CONVERSIONS:
                return []
            return list(call.args) if func.id in VALUE_BUILTINS else _all_arguments(call)
        if isinstance(func, ast.Attribute):
            if func.attr == "numpy":
                return []
            return [func.value, *_all_arguments(call)]  # `self.dense(x)`, `outputs.to_tuple()`
        return _all_arguments(call)

    def _op_arguments(self, call: ast.Call, op: str) -> list[ast.AST]:
        keywords = [k.value for k in call.keywords if k.arg in VALUE_KEYWORDS]
        if op in ALL_ARGUMENTS:
            return [*call.args, *keywords]
        if op in WHERE_VALUES:
            return [*call.args[1:], *keywords]
        if op in FIRST_ARGUMENT:
            return [*call.args[:1], *keywords]
        return []  # an op we do not know: stay silent rather than guess

    # --- following calls ----------------------------------------------------------------------------
    def callee(self, call: ast.Call) -> Callee | None:
        return self.functions.resolve(call, self.scope)

    def summary(self, function: Function) -> Summary | None:
        return self.functions.summary(function)

    # --- where the seeds are cut off --------------------------------------------------------------------
    def cuts(self) -> Iterator[Cut]:
        """Every op without a gradient whose result reaches a sink while some seeds feeding it have no other
        route there, with those seeds; ops in called functions too (`Cut.function`). A `stop_gradient` of
        part of the value only (a straight-through estimator, a frozen part) is not a cut."""
        found: dict[int, tuple[ast.Call, NoGradient]] = {}
        calls: dict[int, tuple[ast.Call, Callee, Summary]] = {}
        visited: set[int] = set()
        pending = list(self.sinks)
        while pending:
            node = pending.pop()
            if id(node) in visited:
                continue
            visited.add(id(node))
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                bindings, _ = self.reaching.reaching(node)
                pending.extend(b.value for b in bindings if b.value is not None)
                continue
            if isinstance(node, ast.Call):
                kind = no_gradient_kind(node, self.imports)
                if kind is not None:
                    if self.include(node):
                        found[id(node)] = (node, kind)
                    if kind is not NoGradient.STOP:
                        pending.extend(cut_inputs(node))
                    continue
                callee = self.callee(node)
                if callee is not None and callee.op is not None:
                    kind = no_gradient_kind(callee.op, self.imports)
                    if kind is not None and self.include(node):
                        found[id(node)] = (callee.op, kind)
                    pending.extend(node.args[:1])
                    continue
                if callee is not None:
                    summary = self.summary(callee.function)
                    if summary is not None:
                        if self.include(node):
                            calls[id(node)] = (node, callee, summary)
                        pending.extend(value for _, value in callee.arguments)
                        continue
                qualname = self.imports.qualname(node.func) or ""
                if qualname.rsplit(".", 1)[-1] in COMPARISONS:
                    pending.extend(node.args)
                    continue
                pending.extend(self._value_arguments(node, DIFFERENTIABLE))
                continue
            pending.extend(_value_children(node, through_comparisons=True))
        reached = frozenset().union(*(self.labels(sink) for sink in self.sinks)) if self.sinks else frozenset()
        for op, kind in sorted(found.values(), key=lambda c: (c[0].lineno, c[0].col_offset)):
            if kind is NoGradient.STOP and reached:
                continue
            lost = frozenset().union(*(self.labels(arg, FED) for arg in cut_inputs(op))) - reached
            if lost:
                yield Cut(op, kind, lost)
        for call, callee, summary in calls.values():
            given = dict(callee.arguments)
            for inner in summary.cuts:
                lost = frozenset().union(*(self.labels(given[p], FED) for p in inner.lost if p in given)) - reached
                if lost:
                    yield Cut(inner.op, inner.kind, lost, inner.function or callee.function, inner.via or call)


def _op_arguments_or_first(op: ast.Call, flow: GradientFlow) -> list[ast.AST]:
    qualname = flow.imports.qualname(op.func)
    return flow._op_arguments(op, qualname.rsplit(".", 1)[-1]) if qualname else list(op.args[:1])


def _all_arguments(call: ast.Call) -> list[ast.AST]:
    return [*call.args, *(k.value for k in call.keywords if k.arg not in NON_VALUE_KEYWORDS)]


def _value_children(node: ast.AST, through_comparisons: bool = False) -> Iterable[ast.AST]:
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult, ast.Pow)):
            return [node.left, node.right]
        return [node.left, node.right] if through_comparisons else []
    if isinstance(node, ast.UnaryOp):
        return [node.operand] if isinstance(node.op, (ast.USub, ast.UAdd)) or through_comparisons else []
    if isinstance(node, ast.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, ast.Compare):
        return [node.left, *node.comparators] if through_comparisons else []
    if isinstance(node, ast.Attribute):
        return [] if node.attr in SHAPE_ATTRS and not through_comparisons else [node.value]
    if isinstance(node, (ast.Subscript, ast.Starred, ast.NamedExpr, ast.Await)):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return node.elts
    if isinstance(node, ast.Dict):
        return [v for v in node.values if v is not None]
    return []

