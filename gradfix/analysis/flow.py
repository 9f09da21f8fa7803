"""The one value-flow analysis every rule asks: what each expression is at its program point.

`FunctionFlow` interprets one function's statements in order over abstract `Value`s (values.py): reaching
definitions per name (if/else and try joined, loops iterated to a fixpoint, with blocks, comprehensions,
nested `def`/`lambda`), so a name that holds a NumPy constant here and a tensor later is a NumPy constant
here. Calls of the project's own functions (self helper methods — static ones without a shifted `self` —,
module-level functions, nested functions and lambdas, methods of mixins in the file) are interpreted with
the argument values of the call site, memoised per (function, argument values): a summary per function and
calling context. Only statements are walked; each expression is evaluated once per pass.

Forward uses come from the same walk: every expression knows its consumer and every read of a name the
definitions that reach it, so `uses(expr)` says what later code does with a value (`.reshape`, item
assignment, a NumPy-only API, a TF op, the return value), and `reaches_output(expr)` whether it reaches
the function's output at all.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from gradfix.analysis.ops import CASTS, NON_DIFFERENTIABLE_OPS, lambda_layer_op, layer_label
from gradfix.analysis.values import (
    ALL_ARGUMENTS, CONTAINER_MUTATORS, ELEMENTWISE, FIRST_ARGUMENT, FLOAT_RESULT, NDARRAY_ONLY_ATTRIBUTES,
    NDARRAY_ONLY_METHODS, NON_VALUE_KEYWORDS, NONE, NUMPY_CONVERTERS, NUMPY_MAKERS,
    NUMPY_PYTHON_RESULTS, NUMPY_RESULT_FUNCTIONS, PYTHON, PYTHON_RESULT_FUNCTIONS, REDUCTIONS, SHAPE_ATTRS,
    STRUCTURE_FUNCTIONS, TENSOR_API, TENSOR_CLASSES, TENSOR_KINDS, UNKNOWN, VALUE_FREE_OPS, VALUE_KEYWORDS,
    WEIGHT_ATTRS_OF_LAYERS, WHERE_VALUES, Kind, Value, combine, dtype_of_name, join_all, last_name, promote, python_scalar,
    replace,
)

if TYPE_CHECKING:
    from gradfix.analysis.program import ValueAnalysis

FLAG_PARAMS = frozenset({"self", "cls", "training", "mask", "return_dict", "output_attentions",
                         "output_hidden_states", "use_cache", "deterministic", "verbose", "kwargs"})
# Words in an `if` test that show deliberate dispatch on the kind of value or backend (`isinstance(x,
# np.ndarray)`, `tf.executing_eagerly()`, `backend.backend() != "tensorflow"`): numpy there is intended.
DISPATCH_WORDS = ("isinstance", "is_tensor", "backend", "eager", "torch", "jax", "ndarray", "in_tf_graph",
                  "inside_function", "numpy", "hasattr", "type")
# Calls whose arguments leave the gradient path: what flows into them never reaches the output.
OFF_PATH_CALLS = frozenset({"print", "len", "str", "repr", "format", "isinstance", "float", "int", "bool",
                            "logging", "tensorflow.print", "tensorflow.summary", "numpy.random", "keras.callbacks",
                            "add_metric", "log", "info", "debug", "warning", "write", "append_log", "assign",
                            "assign_add", "assign_sub", "update_state", "set_weights", "save"})
PYTHON_CONVERSIONS = frozenset({"float", "int", "bool", "len", "str", "range", "print", "isinstance", "list",
                                "tuple", "sorted", "iter", "next", "enumerate", "zip"})
MODEL_LOADERS = frozenset({"load_model", "clone_model", "model_from_json", "model_from_config"})
LAYER_COLLECTIONS = frozenset({"layers", "submodules", "_layers"})
EAGER_SAFE_BUILTINS = frozenset({"print", "isinstance", "str", "float", "int", "bool", "len"})
_MAX_LOOP_PASSES = 4
_MAX_CALL_DEPTH = 6
_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def dotted(node: ast.AST) -> str | None:
    """`self.model.encoder` for that attribute chain, `x` for a name; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    return None


def is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def keyword_argument(call: ast.Call, name: str) -> ast.expr | None:
    """The value of `name=...` in the call, if given."""
    return next((k.value for k in call.keywords if k.arg == name), None)


def tensor_params(function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> set[str]:
    """Parameters that carry tensors: not flags, and not defaulted to a bool/number/string literal."""
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    names = set()
    for arg in positional + args.kwonlyargs + [a for a in (args.vararg,) if a]:
        default = defaults.get(arg.arg)
        literal_flag = isinstance(default, ast.Constant) and default.value is not None
        if arg.arg not in FLAG_PARAMS and "mask" not in arg.arg and not literal_flag:
            names.add(arg.arg)
    return names


def is_static(function: ast.AST) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in getattr(function, "decorator_list", ()))


def mentions_dispatch(test: ast.AST) -> bool:
    for node in ast.walk(test):
        word = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) \
            else node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None
        if word and any(marker in word.lower() for marker in DISPATCH_WORDS):
            return True
    return False


@dataclass(frozen=True)
class Definition:
    """One binding of a name: `node` is the Name target, the parameter (`ast.arg`), the `def`, or the call that
    fills a container (`losses.append(loss)`); `value` the expression whose value it takes (None for parameters)."""

    node: ast.AST
    name: str
    value: ast.AST | None
    statement: ast.AST | None


@dataclass(frozen=True)
class Use:
    """What later code does with a value: `node` consumes `operand` (the value itself or a name holding it).
    `role` is one of operator, argument, method, attribute, subscript, item-assignment, iterate, condition,
    return, container, store, discard; `detail` names the method/attribute or the callee; `accepts_tensor`
    says whether the consumer would take a tf.Tensor in place of a NumPy array."""

    node: ast.AST
    operand: ast.AST
    role: str
    detail: str | None
    accepts_tensor: bool


@dataclass
class Context:
    """What a flow is computed for. `params` gives parameter values (unlisted ones are unknown); `keras_class`
    resolves `self.<attr>`; `seed` may give a value to a name, attribute or call before the usual rules (a
    tape's differentiated model, its source variables); `records_attributes` keeps `self.x = ...` stores."""

    keras_class: object = None
    params: dict[str, Value] = field(default_factory=dict)
    seed: Callable[[ast.AST], Value | None] | None = None
    records_attributes: bool = False


Env = dict  # name -> (Value, frozenset of definition ids)


class FunctionFlow:
    """Values per program point of one function (or module) body, for one calling context."""

    def __init__(self, program: "ValueAnalysis", function: ast.AST, context: Context,
                 closure: Env | None = None, depth: int = 0):
        self.program = program
        self.function = function
        self.context = context
        self.closure = closure or {}
        self.depth = depth
        self.values: dict[int, Value] = {}
        self.parents: dict[int, ast.AST] = {}
        self.reaching: dict[int, frozenset[int]] = {}  # id(Name load) -> ids of the definitions reaching it
        self._loads: dict[int, ast.Name] = {}
        self.definitions: dict[int, Definition] = {}
        self.returned: Value | None = None
        self.return_values: list[ast.AST] = []
        self.call_nodes: list[ast.Call] = []
        self._seen_calls: set[int] = set()
        self.dispatched: list[tuple[int, int]] = []  # line ranges of branches that dispatch on the kind of value
        self.callees: list[FunctionFlow] = []
        self.callee_of: dict[int, FunctionFlow] = {}  # id(call) -> the flow of the project function it runs
        self.attribute_stores: dict[str, Value] = {}
        self.loss_values: list[ast.AST] = []  # arguments of `self.add_loss(...)`: outputs too
        self._uses: dict[int, list[Use]] | None = None
        try:
            self._run()
        except RecursionError:  # expressions nested too deeply to interpret: know nothing rather than half
            self.values.clear()
            self.call_nodes.clear()
            self.return_values.clear()
            self.returned = None

    # --- the walk ---------------------------------------------------------------------------------------
    def _run(self) -> None:
        env: Env = {}
        function = self.function
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for arg, value in self._parameters(function):
                env[arg.arg] = (value, frozenset({id(arg)}))
                self.definitions[id(arg)] = Definition(arg, arg.arg, None, None)
        if isinstance(function, ast.Lambda):
            self._return(self.eval(function.body, env), function.body)
            return
        self.exec_block(function.body, env)

    def _parameters(self, function) -> Iterator[tuple[ast.arg, Value]]:
        args = function.args
        every = args.posonlyargs + args.args + ([args.vararg] if args.vararg else []) + args.kwonlyargs \
            + ([args.kwarg] if args.kwarg else [])
        for arg in every:
            yield arg, self.context.params.get(arg.arg, UNKNOWN)

    def exec_block(self, statements: list[ast.stmt], env: Env | None) -> Env | None:
        for statement in statements:
            if env is None:
                return None
            env = self.exec(statement, env)
        return env

    def exec(self, node: ast.stmt, env: Env) -> Env | None:  # noqa: C901 - one case per statement type
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for decorator in getattr(node, "decorator_list", ()):
                self.eval(decorator, env, node)
            value = Value(Kind.PYTHON, function=node) if not isinstance(node, ast.ClassDef) else PYTHON
            return self._bind(env, node.name, value, node, None, node)
        if isinstance(node, ast.Return):
            value = self.eval(node.value, env, node) if node.value is not None else NONE
            self._return(value, node.value)
            return None
        if isinstance(node, ast.Assign):
            value = self.eval(node.value, env, node)
            for target in node.targets:
                env = self.assign(target, value, node.value, node, env)
            return env
        if isinstance(node, ast.AugAssign):
            current = self.eval(_as_load(node.target), env, node) if isinstance(node.target, ast.Name) else UNKNOWN
            if not isinstance(node.target, ast.Name):
                self.eval(node.target, env, node)
            value = combine([current, self.eval(node.value, env, node)])
            if isinstance(node.target, ast.Name):
                self.values[id(node.target)] = value
                return self._bind(env, node.target.id, value, node.target, node, node)
            return env
        if isinstance(node, ast.AnnAssign):
            if node.value is None:
                return env
            return self.assign(node.target, self.eval(node.value, env, node), node.value, node, env)
        if isinstance(node, (ast.For, ast.AsyncFor)):
            iterated = self.eval(node.iter, env, node)
            return self._loop(node, env, lambda e: self._assign_elements(node.target, node.iter, iterated, node, e))
        if isinstance(node, ast.While):
            self.eval(node.test, env, node)
            return self._loop(node, env, lambda e: e)
        if isinstance(node, ast.If):
            self.eval(node.test, env, node)
            if mentions_dispatch(node.test):
                branches = node.body + node.orelse
                self.dispatched.append((branches[0].lineno, max(b.end_lineno for b in branches)))
            return _join_envs(self.exec_block(node.body, dict(env)), self.exec_block(node.orelse, dict(env)))
        if isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                value = self.eval(item.context_expr, env, node)
                if item.optional_vars is not None:
                    entered = value if value.kind in TENSOR_KINDS or value.kind is Kind.LAYER else \
                        Value(value.kind if value.kind is Kind.PYTHON else Kind.UNKNOWN)
                    env = self.assign(item.optional_vars, entered, item.context_expr, node, env)
            return self.exec_block(node.body, env)
        if isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            after_body = self.exec_block(node.body, dict(env))
            start = _join_envs(env, after_body) or env
            outcomes = [self.exec_block(node.orelse, dict(after_body)) if after_body is not None else None]
            for handler in node.handlers:
                handler_env = dict(start)
                if handler.name:
                    handler_env = self._bind(handler_env, handler.name, PYTHON, handler, None, handler)
                outcomes.append(self.exec_block(handler.body, handler_env))
            joined = None
            for outcome in outcomes:
                joined = _join_envs(joined, outcome)
            if node.finalbody:
                final = self.exec_block(node.finalbody, dict(joined if joined is not None else start))
                return final if joined is not None else None
            return joined
        if isinstance(node, ast.Expr):
            self.eval(node.value, env, node)
            return env
        if isinstance(node, ast.Raise):
            if node.exc is not None:
                self.eval(node.exc, env, node)
            return None
        if isinstance(node, ast.Assert):
            self.eval(node.test, env, node)
            return env
        if isinstance(node, ast.Delete):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    env = {k: v for k, v in env.items() if k != target.id}
                else:
                    self.eval(target, env, node)
            return env
        if isinstance(node, ast.Match):
            self.eval(node.subject, env, node)
            joined = None
            for case in node.cases:
                joined = _join_envs(joined, self.exec_block(case.body, dict(env)))
            return joined
        return env  # pass, break, continue, import, global, nonlocal

    def _loop(self, node, env: Env, bind: Callable[[Env], Env]) -> Env | None:
        """Iterate the body until the names it binds stop changing (or a few passes), joined with skipping it."""
        entry = env
        current = env
        for _ in range(_MAX_LOOP_PASSES):
            body_env = self.exec_block(node.body, bind(dict(current)))
            following = _join_envs(current, body_env) or current
            if following == current:
                break
            current = following
        after = _join_envs(entry, current)
        return self.exec_block(node.orelse, dict(after)) if node.orelse else after

    def _return(self, value: Value, expr: ast.AST | None) -> None:
        self.returned = value if self.returned is None else self.returned.join(value)
        if expr is not None and expr not in self.return_values:
            self.return_values.append(expr)

    # --- bindings ------------------------------------------------------------------------------------------
    def _bind(self, env: Env, name: str, value: Value, node: ast.AST, source: ast.AST | None,
              statement: ast.AST | None) -> Env:
        env = dict(env)
        env[name] = (value, frozenset({id(node)}))
        if id(node) not in self.definitions:
            self.definitions[id(node)] = Definition(node, name, source, statement)
        return env

    def assign(self, target: ast.AST, value: Value, source: ast.AST | None, statement: ast.AST, env: Env) -> Env:
        if isinstance(target, ast.Name):
            self.values[id(target)] = self.values[id(target)].join(value) if id(target) in self.values else value
            self.parents[id(target)] = statement
            return self._bind(env, target.id, value, target, source, statement)
        if isinstance(target, (ast.Tuple, ast.List)):
            elements = source.elts if isinstance(source, (ast.Tuple, ast.List)) and len(source.elts) == len(
                target.elts) and not any(isinstance(e, ast.Starred) for e in target.elts) else None
            for index, element in enumerate(target.elts):
                if elements is not None:
                    env = self.assign(element, self.value(elements[index]), elements[index], statement, env)
                elif isinstance(element, ast.Starred):
                    env = self.assign(element.value, replace(value.element(), container=True), source, statement, env)
                else:
                    env = self.assign(element, value.element(), source, statement, env)
            return env
        if isinstance(target, ast.Starred):
            return self.assign(target.value, value, source, statement, env)
        if isinstance(target, ast.Attribute):
            self.eval(target.value, env, statement)
            if is_self(target.value) and self.context.records_attributes:
                previous = self.attribute_stores.get(target.attr)
                self.attribute_stores[target.attr] = value if previous is None else previous.join(value)
            return env
        if isinstance(target, ast.Subscript):
            container = self.eval(target.value, env, statement)
            self.eval(target.slice, env, target)
            if isinstance(target.value, ast.Name) and target.value.id in env and container.kind is Kind.PYTHON \
                    and not container.container:
                old, defs = env[target.value.id]
                env = dict(env)
                env[target.value.id] = (old.join(replace(value, container=True)), defs)
            return env
        return env

    def _assign_elements(self, target: ast.AST, iterable: ast.AST, value: Value, statement: ast.AST,
                         env: Env) -> Env:
        """Bind a loop/comprehension target to one element: `enumerate`/`zip` give tuples of elements."""
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and isinstance(
                target, (ast.Tuple, ast.List)) and iterable.func.id in ("enumerate", "zip") and iterable.args:
            parts = [Value(Kind.PYTHON, "int", 0)] + [self.value(a).element() for a in iterable.args[:1]] \
                if iterable.func.id == "enumerate" else [self.value(a).element() for a in iterable.args]
            if len(parts) == len(target.elts):
                for element, part in zip(target.elts, parts):
                    env = self.assign(element, part, iterable, statement, env)
                return env
        return self.assign(target, value.element(), iterable, statement, env)

    # --- expressions -----------------------------------------------------------------------------------------
    def value(self, node: ast.AST) -> Value:
        """The value of an evaluated expression at its program point (joined over loop passes)."""
        return self.values.get(id(node), UNKNOWN)

    def eval(self, node: ast.AST, env: Env, parent: ast.AST | None = None) -> Value:
        if parent is not None:
            self.parents[id(node)] = parent
        value = self._eval(node, env)
        if not value.origins <= value.derived:
            value = replace(value, derived=value.derived | value.origins)
        previous = self.values.get(id(node))
        self.values[id(node)] = value if previous is None else previous.join(value)
        return value

    def _eval(self, node: ast.AST, env: Env) -> Value:  # noqa: C901 - one case per expression type
        seed = self.context.seed
        if seed is not None and isinstance(node, (ast.Name, ast.Attribute, ast.Call)):
            seeded = seed(node)
            if seeded is not None:
                if isinstance(node, ast.Call):
                    if isinstance(node.func, ast.Attribute):
                        self.parents[id(node.func)] = node
                        self.eval(node.func.value, env, node.func)
                    self._eval_arguments(node, env)
                    self._note_call(node)
                elif isinstance(node, ast.Name):
                    self._name(node, env)
                else:
                    self.eval(node.value, env, node)
                return seeded
        if isinstance(node, ast.Constant):
            return python_scalar(node.value)
        if isinstance(node, ast.Name):
            return self._name(node, env)
        if isinstance(node, ast.Attribute):
            return self._attribute(node, env)
        if isinstance(node, ast.Call):
            return self._call(node, env)
        if isinstance(node, ast.BinOp):
            left, right = self.eval(node.left, env, node), self.eval(node.right, env, node)
            if left.kind is Kind.PYTHON and right.kind is Kind.PYTHON and isinstance(node.op, ast.Add) \
                    and left.length is not None and right.length is not None:
                return Value(Kind.PYTHON, left.dtype if left.dtype == right.dtype else None, 1,
                             length=left.length + right.length)
            if isinstance(node.op, ast.MatMult):
                result = combine([left, right])
                ranks = (left.rank, right.rank)
                return replace(result, rank=max(ranks) if None not in ranks and min(ranks) >= 2 else None)
            if isinstance(node.op, ast.Div) and left.is_integer and right.is_integer:
                return replace(combine([left, right]), dtype="float64" if left.kind is not Kind.PYTHON else "float")
            return combine([left, right])
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand, env, node)
            if isinstance(node.op, ast.Not):
                return replace(operand.off_path(), dtype="bool") if operand.is_tensor else Value(Kind.PYTHON, "bool", 0)
            return operand
        if isinstance(node, ast.BoolOp):
            return join_all(self.eval(v, env, node) for v in node.values)
        if isinstance(node, ast.Compare):
            operands = [self.eval(node.left, env, node), *(self.eval(c, env, node) for c in node.comparators)]
            result = combine(operands)
            if result.kind in TENSOR_KINDS or result.kind is Kind.NUMPY:
                return replace(result.off_path(), dtype="bool") if result.kind is not Kind.NUMPY else \
                    replace(result, dtype="bool")
            return Value(Kind.PYTHON, "bool", 0) if result.kind is Kind.PYTHON else replace(UNKNOWN, dtype="bool")
        if isinstance(node, ast.IfExp):
            self.eval(node.test, env, node)
            return self.eval(node.body, env, node).join(self.eval(node.orelse, env, node))
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return self._sequence(node, env)
        if isinstance(node, ast.Dict):
            for key in node.keys:
                if key is not None:
                    self.eval(key, env, node)
            values = [self.eval(v, env, node) for v in node.values]
            return replace(_container_of(values), length=None)
        if isinstance(node, ast.Subscript):
            return self._subscript(node, env)
        if isinstance(node, ast.Starred):
            return self.eval(node.value, env, node)
        if isinstance(node, ast.NamedExpr):
            value = self.eval(node.value, env, node)
            self.assign(node.target, value, node.value, node, env)
            env.update(self._bind(env, node.target.id, value, node.target, node.value, node))
            return value
        if isinstance(node, ast.Lambda):
            return Value(Kind.PYTHON, function=node)
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            return self._comprehension(node, env)
        if isinstance(node, ast.JoinedStr):
            for part in node.values:
                self.eval(part, env, node)
            return Value(Kind.PYTHON, "str", 0)
        if isinstance(node, ast.FormattedValue):
            self.eval(node.value, env, node)
            return Value(Kind.PYTHON, "str", 0)
        if isinstance(node, (ast.Await, ast.Yield, ast.YieldFrom)):
            if node.value is None:
                return UNKNOWN
            value = self.eval(node.value, env, node)
            if not isinstance(node, ast.Await):
                self._return(value, node.value)
            return value
        if isinstance(node, ast.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.eval(part, env, node)
            return PYTHON
        return UNKNOWN

    def _name(self, node: ast.Name, env: Env) -> Value:
        if node.id in env:
            value, defs = env[node.id]
            self.reaching[id(node)] = self.reaching.get(id(node), frozenset()) | defs
            self._loads[id(node)] = node
            return value
        if node.id in self.closure:
            return self.closure[node.id][0]
        return self.program.global_value(node.id)

    def _sequence(self, node: ast.Tuple | ast.List | ast.Set, env: Env) -> Value:
        values = [self.eval(e, env, node) for e in node.elts]
        starred = [self.value(e.value) for e in node.elts if isinstance(e, ast.Starred)]
        length = len(values) - len(starred) + sum(s.length for s in starred) if all(
            s.length is not None for s in starred) else None
        if values and all(v.kind is Kind.PYTHON and v.rank is not None and not v.container for v in values) \
                and not starred:
            ranks = {v.rank for v in values}
            rank = (ranks.pop() + 1) if len(ranks) == 1 else None
            return Value(Kind.PYTHON, promote([v.dtype for v in values]), rank, length=length)
        if not values:
            return Value(Kind.PYTHON, None, 1, length=0, container=True)
        return replace(_container_of(values), length=length)

    def _comprehension(self, node, env: Env) -> Value:
        inner = dict(env)
        for generator in node.generators:
            iterated = self.eval(generator.iter, inner, node)
            inner = self._assign_elements(generator.target, generator.iter, iterated, generator, inner)
            for condition in generator.ifs:
                self.eval(condition, inner, node)
        if isinstance(node, ast.DictComp):
            self.eval(node.key, inner, node)
            element = self.eval(node.value, inner, node)
        else:
            element = self.eval(node.elt, inner, node)
        return replace(element, container=True, length=None, function=None)

    def _subscript(self, node: ast.Subscript, env: Env) -> Value:
        base = self.eval(node.value, env, node)
        index = self.eval(node.slice, env, node)
        if base.container or base.kind is Kind.PYTHON:
            if isinstance(node.slice, ast.Slice):
                return replace(base, length=None)
            return base.element()
        if base.kind in TENSOR_KINDS or base.kind is Kind.NUMPY:
            if isinstance(node.slice, ast.Slice):
                return base
            if index.is_python_scalar and index.dtype == "int":
                return base.element()
            return replace(base, rank=None)
        return replace(UNKNOWN, origins=base.origins, derived=base.derived)

    # --- attributes ----------------------------------------------------------------------------------------
    def _attribute(self, node: ast.Attribute, env: Env) -> Value:
        qualname = self.program.imports.qualname(node)
        if qualname is not None:
            dtype = dtype_of_name(qualname) if qualname.startswith(("numpy.", "tensorflow.", "keras.")) else None
            return Value(Kind.PYTHON, "dtype" if dtype else None, 0) if dtype or qualname.startswith("math.") \
                or qualname in ("numpy.pi", "numpy.e", "numpy.inf", "numpy.nan") else UNKNOWN
        base = self.eval(node.value, env, node)
        if base.kind is Kind.LAYER and base.dtype == "self":
            return self.program.self_attribute(self.context.keras_class, node.attr, self)
        attr = node.attr
        if attr == "shape":
            return Value(Kind.PYTHON, "int", 1, length=base.rank) if base.kind is not Kind.UNKNOWN or base.origins \
                else Value(Kind.PYTHON, "int", 1)
        if attr in ("ndim", "size") and base.kind is not Kind.PYTHON:
            return Value(Kind.PYTHON, "int", 0)
        if attr in SHAPE_ATTRS:
            return PYTHON
        if base.kind is Kind.LAYER:
            if attr in WEIGHT_ATTRS_OF_LAYERS:
                return Value(Kind.GRADIENT, "float32", origins=base.origins,
                             container=attr.endswith(("weights", "variables")))
            if attr in LAYER_COLLECTIONS:
                return replace(base, container=True)
            if attr in ("output", "input", "outputs", "inputs"):
                return Value(Kind.GRADIENT if base.origins else Kind.TENSOR, origins=base.origins)
            return replace(UNKNOWN, origins=base.origins)
        if attr in LAYER_COLLECTIONS and base.kind is Kind.UNKNOWN:
            return Value(Kind.LAYER, container=True)
        if base.kind is Kind.NUMPY:
            return base if attr in ("T", "real", "imag") else PYTHON
        if base.kind in TENSOR_KINDS:
            return base
        if base.kind is Kind.PYTHON:
            return PYTHON
        return replace(UNKNOWN, origins=base.origins, derived=base.derived)

    # --- calls -----------------------------------------------------------------------------------------------
    def _note_call(self, node: ast.Call) -> None:
        if id(node) not in self._seen_calls:
            self._seen_calls.add(id(node))
            self.call_nodes.append(node)

    def _eval_arguments(self, node: ast.Call, env: Env) -> tuple[list[Value], dict[str, Value]]:
        args = [self.eval(a, env, node) for a in node.args]
        keywords = {}
        for keyword in node.keywords:
            value = self.eval(keyword.value, env, node)
            if keyword.arg is not None:
                keywords[keyword.arg] = value
        return args, keywords

    def _call(self, node: ast.Call, env: Env) -> Value:
        self._note_call(node)
        func = node.func
        qualname = self.program.imports.qualname(func)
        receiver = None
        if qualname is None and isinstance(func, ast.Attribute):
            self.parents[id(func)] = node
            receiver = self.eval(func.value, env, func)
        elif qualname is None and isinstance(func, ast.Name):
            receiver = self.eval(func, env, node)
        args, keywords = self._eval_arguments(node, env)
        if qualname is not None:
            result = self._library_call(node, qualname, args, keywords)
        elif isinstance(func, ast.Name):
            result = self._name_call(node, func.id, receiver, args, keywords, env)
        elif isinstance(func, ast.Attribute):
            result = self._method_call(node, func, receiver, args, keywords, env)
        elif isinstance(func, ast.Call):  # `Dense(4)(x)`, `Lambda(fn)(x)`: a layer made and called at once
            result = self._inline_layer_call(node, func, args, env)
        else:
            result = replace(UNKNOWN, origins=self._carried(node))
        if _value_free_call(node, self.program.imports):
            return result
        inputs = [*args, *keywords.values(), *([receiver] if isinstance(func, ast.Attribute) else [])]
        derived = frozenset().union(*(v.derived for v in inputs if v is not None))
        return result if derived <= result.derived else replace(result, derived=result.derived | derived)

    def _inline_layer_call(self, node: ast.Call, layer: ast.Call, args: list[Value], env: Env) -> Value:
        """A `Lambda` layer runs its function (or the op it wraps) on its input; another layer is a layer."""
        made = self.eval(layer, env, node)
        if self.program.imports.qualname(layer.func) == "keras.layers.Lambda" and layer.args:
            op = lambda_layer_op(node, self.program.imports)
            if op is not None:
                for keyword in op.keywords:
                    self.eval(keyword.value, env, node)
                return self._library_call(op, self.program.imports.qualname(op.func), args[:1],
                                          {k.arg: self.value(k.value) for k in op.keywords})
            functions = self.program.functions_given(layer.args[0])
            if len(functions) == 1:
                return self.invoke(functions[0], node, args[:1], {}, env, bound=False)
            return replace(UNKNOWN, origins=self._carried(node))
        if made.kind is Kind.LAYER:
            return self._layer_output(node, replace(made, origins=frozenset({layer_label(layer)})), args)
        return replace(UNKNOWN, origins=self._carried(node))

    def _carried(self, node: ast.Call) -> frozenset[str]:
        """Origins of the arguments through which gradient flows into the call's result."""
        return frozenset().union(*(self.value(a).origins for a in gradient_arguments(node, self.program.imports)
                                   if self.value(a).kind not in (Kind.NUMPY, Kind.PYTHON)))

    def _library_call(self, node: ast.Call, qualname: str, args: list[Value], keywords: dict[str, Value]) -> Value:
        if qualname.startswith("numpy."):
            return numpy_result(qualname[len("numpy."):], node, args, keywords, self.program.imports)
        if qualname.startswith(("tensorflow.", "keras.")):
            return self._tensorflow_call(node, qualname, args, keywords)
        if qualname.startswith("math."):
            return Value(Kind.PYTHON, "float", 0)
        kind = self.program.index.kind_of_base(qualname) if self.program.index else None
        if kind is not None and kind.value in ("layer", "model"):
            return Value(Kind.LAYER)
        # a function of another module of the project, or a library: a function of its arguments
        origins = self._carried(node)
        return Value(Kind.UNKNOWN, origins=origins)

    def _tensorflow_call(self, node: ast.Call, qualname: str, args: list[Value], keywords: dict[str, Value]) -> Value:
        op = last_name(qualname)
        first = args[0] if args else next(iter(keywords.values()), UNKNOWN)
        if qualname in STRUCTURE_FUNCTIONS:  # `tf.nest.flatten(outputs)`: the same tensors, in a list
            return replace(join_all([*args, *keywords.values()], UNKNOWN), container=True, length=None)
        if qualname in PYTHON_RESULT_FUNCTIONS:
            return Value(Kind.PYTHON, "int", 0 if "dimension" in op or op in ("rank", "ndim") else None)
        if qualname in NUMPY_RESULT_FUNCTIONS:
            return replace(first, kind=Kind.NUMPY, origins=frozenset())
        if op[:1].isupper():
            if qualname in TENSOR_CLASSES:
                return self._variable(node, args, keywords)
            if qualname in ("keras.Input", "keras.layers.Input"):
                shape = keywords.get("shape", args[0] if args else UNKNOWN)
                dtype = dtype_of_name(literal_or_qualname(self.program.imports, keyword_argument(node, "dtype")))
                return Value(Kind.TENSOR, dtype or "float32", None if shape.length is None else shape.length + 1)
            if qualname == "keras.layers.Lambda" and node.args:  # called later, it runs its function
                functions = self.program.functions_given(node.args[0])
                return Value(Kind.LAYER, function=functions[0] if len(functions) == 1 else None)
            kind = self.program.index.kind_of_base(qualname) if self.program.index else None
            if kind is not None and kind.value in ("layer", "model"):
                return Value(Kind.LAYER)
            if qualname.startswith("keras.layers."):
                return Value(Kind.LAYER)
            return PYTHON if "GradientTape" in op else UNKNOWN
        if qualname in CASTS:
            dtype_node = node.args[1] if len(node.args) > 1 else keyword_argument(node, "dtype")
            dtype = dtype_of_name(literal_or_qualname(self.program.imports, dtype_node))
            result = replace(combine([first]), dtype=dtype, kind=Kind.GRADIENT if first.origins and
                             first.kind is not Kind.NUMPY else Kind.TENSOR)
            if dtype is None or dtype in ("bool",) or dtype.startswith(("int", "uint")):
                return result.off_path() if dtype is not None else result
            return result
        if op in NON_DIFFERENTIABLE_OPS:
            rank = first.rank
            if op in ("argmax", "argmin"):
                return Value(Kind.TENSOR, "int64", None if rank is None else max(rank - 1, 0))
            if op == "count_nonzero":  # a reduction: its axis decides the rank
                return Value(Kind.TENSOR, "int64")
            if op == "one_hot":
                return Value(Kind.TENSOR, "float32", None if rank is None else rank + 1)
            if op in ("py_function", "numpy_function", "py_func"):
                return Value(Kind.TENSOR)
            return Value(Kind.TENSOR, "bool" if op.startswith(("equal", "not_", "greater", "less", "logical", "is_"))
                         else first.dtype, rank)
        if op in VALUE_FREE_OPS or qualname.startswith(("tensorflow.random.", "keras.random.")):
            return self._value_free(node, op, args, keywords)
        if op in MODEL_LOADERS:
            return Value(Kind.LAYER)
        origins = self._carried(node)
        operands = args[1:] if op in WHERE_VALUES and len(args) == 3 else args  # where(condition, x, y): x's dtype
        tensors = [v for v in (*operands, *keywords.values()) if v.kind is not Kind.PYTHON or v.rank]
        result = combine(tensors or operands)
        kind = Kind.GRADIENT if origins else Kind.TENSOR
        rank = self._op_rank(op, node, args, keywords)
        dtype = result.dtype
        if dtype in ("float", "int"):
            dtype = "float32" if dtype == "float" else "int32"
        return Value(kind, dtype, rank, origins)

    def _variable(self, node: ast.Call, args: list[Value], keywords: dict[str, Value]) -> Value:
        initial = args[0] if args else keywords.get("initial_value", UNKNOWN)
        dtype = dtype_of_name(literal_or_qualname(self.program.imports, keyword_argument(node, "dtype")))
        if dtype is None:
            dtype = {"float": "float32", "int": "int32"}.get(initial.dtype, initial.dtype)
        trainable = keyword_argument(node, "trainable")
        off = isinstance(trainable, ast.Constant) and trainable.value is False
        return Value(Kind.TENSOR if off else Kind.GRADIENT, dtype, initial.rank, frozenset({"<variable>"}))

    def _value_free(self, node: ast.Call, op: str, args: list[Value], keywords: dict[str, Value]) -> Value:
        first = args[0] if args else next(iter(keywords.values()), UNKNOWN)
        dtype = dtype_of_name(literal_or_qualname(self.program.imports, keyword_argument(node, "dtype")))
        if op in ("shape", "size", "shape_n"):
            return Value(Kind.TENSOR, dtype or "int32", 1 if op == "shape" else 0)
        if op in ("range", "arange"):
            return Value(Kind.TENSOR, dtype or promote([a.dtype for a in args]), 1)
        if op.endswith("_like"):
            return Value(Kind.TENSOR, dtype or first.dtype, first.rank)
        if op == "constant":
            inferred = {"float": "float32", "int": "int32", "float64": "float64"}.get(first.dtype, first.dtype)
            return Value(Kind.TENSOR, dtype or inferred, first.rank)
        shape = keywords.get("shape", first)
        return Value(Kind.TENSOR, dtype or ("float32" if op not in ("categorical",) else "int64"), shape.length)

    def _op_rank(self, op: str, node: ast.Call, args: list[Value], keywords: dict[str, Value]) -> int | None:
        first = args[0] if args else UNKNOWN
        if op in ELEMENTWISE:
            ranks = [v.rank for v in args if v.kind is not Kind.PYTHON or v.rank]
            return max(ranks) if ranks and None not in ranks else None
        if op in REDUCTIONS:
            return reduced_rank(first.rank, node, keywords)
        if op in ("matmul",) and len(args) >= 2 and None not in (args[0].rank, args[1].rank):
            return max(args[0].rank, args[1].rank)
        if op in ("reshape",):
            shape = args[1] if len(args) > 1 else keywords.get("shape", UNKNOWN)
            return shape.length
        if op in ("transpose", "convert_to_tensor", "identity", "l2_normalize", "dropout", "pad", "tile", "reverse"):
            return first.rank
        if op == "expand_dims":
            return None if first.rank is None else first.rank + 1
        return None

    def _name_call(self, node: ast.Call, name: str, callee: Value, args: list[Value], keywords: dict[str, Value],
                   env: Env) -> Value:
        if callee.function is not None:
            return self.invoke(callee.function, node, args, keywords, env, bound=False)
        if callee.kind is Kind.LAYER:
            return self._layer_output(node, callee, args)
        kind = self.program.index.kind_of_base(name) if self.program.index else None
        if kind is not None and kind.value in ("layer", "model"):
            return Value(Kind.LAYER)  # a Keras class of this run, also one defined locally
        if name in env:
            return replace(UNKNOWN, origins=self._carried(node))
        first = args[0] if args else UNKNOWN
        if name in ("float", "int", "bool", "len", "round", "complex"):
            return Value(Kind.PYTHON, {"len": "int", "round": "int"}.get(name, name), 0)
        if name in ("str", "repr", "format"):
            return Value(Kind.PYTHON, "str", 0)
        if name in ("print", "isinstance", "hasattr", "callable", "issubclass", "setattr", "type", "id", "hash"):
            return NONE if name in ("print", "setattr") else PYTHON
        if name == "range":
            return Value(Kind.PYTHON, "int", 1, container=False)
        if name in ("list", "tuple", "sorted", "reversed", "set"):
            return replace(first, container=True) if first.container or first.kind is not Kind.PYTHON else first
        if name in ("sum", "max", "min", "abs"):
            parts = [first.element() if first.container else first, *args[1:]]
            return combine(parts) if name != "abs" else first
        if name in ("zip", "enumerate", "map", "filter", "iter", "dict"):
            return replace(join_all(args, PYTHON), container=True, length=None)
        if name == "super":
            return Value(Kind.LAYER, origins=frozenset({"super"}))
        return replace(UNKNOWN, origins=self._carried(node))

    def _method_call(self, node: ast.Call, func: ast.Attribute, receiver: Value, args: list[Value],
                     keywords: dict[str, Value], env: Env) -> Value:
        method = func.attr
        if receiver.kind is Kind.LAYER and receiver.dtype == "self":
            self.values[id(func)] = self.program.self_attribute(self.context.keras_class, method, self)
            return self._self_method_call(node, method, args, keywords, env)
        if isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name) and func.value.func.id == "super":
            if method in ("call", "__call__"):
                return Value(Kind.GRADIENT, "float32", None, self._carried(node) | {"super"})
            return NONE
        if method in CONTAINER_MUTATORS and isinstance(func.value, ast.Name) and func.value.id in env and args:
            old, defs = env[func.value.id]
            added = replace(args[-1].element() if method in ("extend", "update") else args[-1], container=True,
                            length=None)
            if old.container and old.length == 0:  # `losses = []`, then filled
                filled = added
            else:
                filled = old.join(added) if old.container else old
            env[func.value.id] = (filled, defs | {id(node)})
            if id(node) not in self.definitions:
                self.definitions[id(node)] = Definition(node, func.value.id, node.args[-1], node)
            return NONE
        if receiver.kind is Kind.LAYER:
            if method in ("call", "__call__"):
                return self._layer_output(node, receiver, args)
            if method in ("predict", "predict_on_batch", "get_weights"):
                return Value(Kind.NUMPY, "float32", container=method == "get_weights")
            if method in ("compute_output_shape", "get_config", "count_params", "summary", "get_layer"):
                return Value(Kind.LAYER, origins=receiver.origins) if method == "get_layer" else PYTHON
            return replace(UNKNOWN, origins=receiver.origins | self._carried(node))
        if receiver.kind in TENSOR_KINDS:
            if method == "numpy":
                return replace(receiver, kind=Kind.NUMPY, origins=frozenset())
            if method in ("get_shape", "as_list"):
                return Value(Kind.PYTHON, "int", 1, length=receiver.rank)
            if method in ("assign", "assign_add", "assign_sub"):
                return receiver.off_path()
            return receiver
        if receiver.kind is Kind.NUMPY:
            return ndarray_method(method, receiver, node, args, keywords, self.program.imports)
        if receiver.kind is Kind.PYTHON:
            if method == "as_list":
                return Value(Kind.PYTHON, "int", 1, length=receiver.length)
            if method in ("get", "pop") and receiver.container:
                return receiver.element()
            if method in ("values", "items", "keys", "copy"):
                return receiver
            return PYTHON
        if method == "numpy":
            return replace(receiver, kind=Kind.NUMPY, origins=frozenset())
        if method == "get_layer":
            return Value(Kind.LAYER)
        return replace(UNKNOWN, origins=receiver.origins | self._carried(node))

    def _self_method_call(self, node: ast.Call, method: str, args: list[Value], keywords: dict[str, Value],
                          env: Env) -> Value:
        function = self.program.method_of(self.context.keras_class, method)
        if function is not None:
            return self.invoke(function, node, args, keywords, env, bound=not is_static(function))
        inherited = self.program.inherited(self.context.keras_class, method)
        if inherited is not None:
            return self._inherited_call(inherited, node, args, keywords)
        attribute = self.program.self_attribute(self.context.keras_class, method, self)
        if attribute.kind is Kind.LAYER and attribute.function is not None:  # `self.pick = Lambda(fn)`
            return self.invoke(attribute.function, node, args[:1], {}, env, bound=False)
        if attribute.kind is Kind.LAYER:
            return self._layer_output(node, attribute, args)
        if method in ("add_weight", "add_variable"):
            return self.program.weight_value(node, self)
        if method in ("add_loss",):
            self.loss_values.extend(node.args)
            return NONE
        if method in ("call", "__call__") or (self.context.keras_class is None and method not in ("add_metric",)):
            return Value(Kind.GRADIENT, "float32", None, self._carried(node) | {"self"})
        return replace(UNKNOWN, origins=self._carried(node))

    def _inherited_call(self, inherited, node: ast.Call, args: list[Value], keywords: dict[str, Value]) -> Value:
        """What a method inherited from a project class of another file returns, computed in that file's
        analysis. Only the value comes back: the method's calls are not this flow's (nor its file's) to report."""
        module, base, function = inherited
        params = bind_arguments(function, node, args, keywords, not is_static(function))
        if params is None or self.depth >= _MAX_CALL_DEPTH:
            return replace(UNKNOWN, origins=self._carried(node))
        summary_params = {name: _placeholder(name, value) for name, value in params.items()}
        flow = module.summary(function, Context(base, summary_params), summary_params, self.depth + 1)
        if flow is None:
            return replace(UNKNOWN, origins=self._carried(node))
        return _instantiate(flow.returned, params) if flow.returned is not None else NONE

    def _layer_output(self, node: ast.Call, layer: Value, args: list[Value]) -> Value:
        label = layer_label(node.func)
        origins = (layer.origins or frozenset({label})) | self._carried(node)
        return Value(Kind.GRADIENT, "float32", None, origins)

    def invoke(self, function: ast.AST, node: ast.Call, args: list[Value], keywords: dict[str, Value], env: Env,
               bound: bool) -> Value:
        """The value a call of a project function returns for these arguments (its summary)."""
        if self.depth >= _MAX_CALL_DEPTH:
            return replace(UNKNOWN, origins=self._carried(node))
        params = bind_arguments(function, node, args, keywords, bound)
        if params is None:
            return replace(UNKNOWN, origins=self._carried(node))
        outer = self.function
        nested = not isinstance(outer, ast.Module) and function is not outer \
            and outer.lineno <= function.lineno <= outer.end_lineno
        summary_params = {name: _placeholder(name, value) for name, value in params.items()}
        flow = self.program.summary(function, self.context, summary_params, self.depth + 1,
                                    closure=env if nested else None)
        if flow is None:
            return replace(UNKNOWN, origins=self._carried(node))
        if flow not in self.callees:
            self.callees.append(flow)
        self.callee_of[id(node)] = flow
        return _instantiate(flow.returned, params) if flow.returned is not None else NONE

    # --- questions ---------------------------------------------------------------------------------------
    def calls(self) -> list[ast.Call]:
        """Calls of the function in source order, except in branches that dispatch on the kind of value."""
        return sorted((c for c in self.call_nodes if not any(a <= c.lineno <= b for a, b in self.dispatched)),
                      key=lambda c: (c.lineno, c.col_offset))

    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def definitions_reaching(self, name: ast.Name) -> list[Definition]:
        return [self.definitions[d] for d in self.reaching.get(id(name), ()) if d in self.definitions]

    @property
    def _use_index(self) -> dict[int, list[ast.AST]]:
        """id(definition) -> the Name loads it reaches."""
        if self._uses is None:
            index: dict[int, list[ast.AST]] = {}
            for load_id, defs in self.reaching.items():
                for definition in defs:
                    index.setdefault(definition, []).append(self._loads[load_id])
            self._uses = index
        return self._uses

    def loads_of(self, definition: ast.AST) -> list[ast.AST]:
        """The reads of a name that this definition (a target, a parameter) reaches."""
        return list(self._use_index.get(id(definition), []))

    def uses(self, expr: ast.AST) -> list[Use]:
        """Every consumer of the value of `expr`, following assignments to names and containers."""
        found: list[Use] = []
        seen: set[int] = set()
        stack = [expr]
        while stack:
            current = stack.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            parent = self.parents.get(id(current))
            if parent is None:
                continue
            passed = self._passes_through(current, parent)
            if passed:
                stack.extend(passed)
                continue
            found.append(_use(current, parent, self.program.imports))
        return found

    def _passes_through(self, expr: ast.AST, parent: ast.AST) -> list[ast.AST]:
        """Where the value goes when `parent` only hands it on: names it is bound to, the container, the
        conditional expression."""
        if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and getattr(parent, "value", None) is expr:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            loads = []
            for target in targets:
                if isinstance(target, (ast.Attribute, ast.Subscript)):
                    return []
                for name in _target_names(target):
                    loads.extend(self._use_index.get(id(name), []))
            return loads if loads or isinstance(parent, ast.NamedExpr) else [_DISCARDED]
        if isinstance(parent, (ast.Tuple, ast.List, ast.Set, ast.Dict, ast.IfExp, ast.Starred, ast.Await)) \
                and expr is not getattr(parent, "test", None):
            return [parent]
        if isinstance(parent, (ast.ListComp, ast.SetComp, ast.GeneratorExp)) and expr is parent.elt \
                or isinstance(parent, ast.DictComp) and expr is parent.value:
            return [parent]
        if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and \
                parent.func.attr in CONTAINER_MUTATORS and expr in parent.args and id(parent) in self.definitions:
            return self._use_index.get(id(parent), []) or [_DISCARDED]
        return []

    def reaches_output(self, expr: ast.AST, sinks: Iterable[ast.AST] = ()) -> bool:
        """Does the value flow into the function's output: a returned/yielded value, `self.add_loss(...)`, or one
        of `sinks` (a tape's targets)? Values that only reach logging, NumPy sampling, Python conversions or
        state updates leave the gradient path."""
        targets = {id(s) for s in sinks} | {id(v) for v in self.return_values} | {id(v) for v in self.loss_values}
        seen: set[int] = set()
        stack = [expr]
        while stack:
            current = stack.pop()
            if id(current) in targets:
                return True
            if id(current) in seen:
                continue
            seen.add(id(current))
            parent = self.parents.get(id(current))
            if parent is None or isinstance(parent, ast.stmt) and not isinstance(
                    parent, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Return, ast.Expr)):
                continue
            if isinstance(parent, (ast.Return,)):
                return True
            passed = self._passes_through(current, parent)
            if passed:
                stack.extend(p for p in passed if p is not _DISCARDED)
                continue
            if isinstance(parent, ast.AugAssign) and isinstance(parent.target, ast.Name):
                stack.extend(self._use_index.get(id(parent.target), []))
                continue
            if isinstance(parent, ast.Call) and _leaves_path(parent, current, self.program.imports):
                continue
            if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Attribute) and is_self(parent.func.value) \
                    and parent.func.attr == "add_loss":
                return True
            if isinstance(parent, (ast.expr, ast.keyword)):
                stack.append(parent)
        return False

    def gradient_inputs(self, node: ast.AST) -> list[ast.AST]:
        """The sub-expressions whose value carries gradient into `node` (for a name: the values of the
        definitions that reach it). Non-differentiable ops and NumPy/Python conversions have none."""
        if isinstance(node, ast.Name):
            return [d.value for d in self.definitions_reaching(node) if d.value is not None
                    and not isinstance(d.node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        if isinstance(node, ast.Call):
            return gradient_arguments(node, self.program.imports)
        return value_children(node)

    def backward_slice(self, roots: Iterable[ast.AST], within: Callable[[ast.AST], bool]) -> tuple[set[int], set[str]]:
        """(ids of every sub-expression whose value flows into `roots` through statements accepted by `within`,
        the names read on the way). A name bound outside `within` is read but not followed."""
        nodes: set[int] = set()
        names: set[str] = set()
        stack = list(roots)
        done: set[int] = set()
        while stack:
            root = stack.pop()
            if id(root) in done:
                continue
            done.add(id(root))
            for node in _walk_values(root):
                nodes.add(id(node))
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                    names.add(node.id)
                    for definition in self.definitions_reaching(node):
                        statement = definition.statement
                        if statement is None or not within(statement):
                            continue
                        if isinstance(statement, ast.AugAssign):
                            stack.append(statement)
                        elif isinstance(definition.node, ast.Call):
                            stack.extend(definition.node.args)
                        elif definition.value is not None:
                            stack.append(definition.value)
                            nodes.add(id(definition.node))
        return nodes, names


def _walk_values(root: ast.AST) -> Iterator[ast.AST]:
    """Every node of the expression except the indices of subscripts (`probs[0, action]`: the sampled action
    picks an element, no value flows from it)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.Subscript):
            stack.append(node.value)
        else:
            stack.extend(ast.iter_child_nodes(node))


def _placeholder(name: str, value: Value) -> Value:
    """The parameter's value with its origins replaced by a mark of the parameter: one summary serves every
    call site whose arguments differ only in where their gradient comes from."""
    mark = frozenset({f"@{name}"})
    return replace(value, origins=mark if value.origins else frozenset(),
                   derived=mark if value.derived or value.origins else frozenset())


def _instantiate(value: Value, params: dict[str, Value]) -> Value:
    """A summary's value at one call site: parameter marks replaced by the arguments' origins."""
    def resolve(labels: frozenset[str], derived: bool) -> frozenset[str]:
        found: set[str] = set()
        for label in labels:
            argument = params.get(label[1:]) if label.startswith("@") else None
            if argument is None:
                found.add(label)
            else:
                found |= argument.derived | argument.origins if derived else argument.origins
        return frozenset(found)
    if not any(label.startswith("@") for label in value.origins | value.derived):
        return value
    return replace(value, origins=resolve(value.origins, False), derived=resolve(value.derived, True))


class _Discarded(ast.AST):
    """Stands for "the value is bound to a name nobody reads"."""


_DISCARDED = _Discarded()


def _target_names(target: ast.AST) -> Iterator[ast.Name]:
    if isinstance(target, ast.Name):
        yield target
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from _target_names(element)
    elif isinstance(target, ast.Starred):
        yield from _target_names(target.value)


def _as_load(name: ast.Name) -> ast.Name:
    return name  # an AugAssign target is read before it is written: its Store node stands for the read too


def _container_of(values: list[Value]) -> Value:
    if not values:
        return Value(Kind.PYTHON, container=True)
    tensors = [v for v in values if v.kind in TENSOR_KINDS or v.kind is Kind.LAYER or v.kind is Kind.NUMPY]
    joined = join_all(tensors) if tensors else join_all(values)
    return replace(joined, container=True, origins=frozenset().union(*(v.origins for v in values)),
                   derived=frozenset().union(*(v.derived for v in values)), function=None,
                   rank=None if tensors else joined.rank)


def _join_envs(first: Env | None, second: Env | None) -> Env | None:
    if first is None:
        return second
    if second is None:
        return first
    joined = {}
    for name in first.keys() | second.keys():
        if name in first and name in second:
            (a, da), (b, db) = first[name], second[name]
            joined[name] = (a.join(b), da | db)
        else:
            value, defs = first.get(name) or second.get(name)
            joined[name] = (value, defs)
    return joined


def bind_arguments(function: ast.AST, call: ast.Call, args: list[Value], keywords: dict[str, Value],
                   bound: bool) -> dict[str, Value] | None:
    """Parameter name -> value for this call; `bound` drops the first parameter (`self` of a method called
    through `self.`, never for a static method). None when *args/**kwargs make the binding unknowable."""
    spec = function.args
    positional = [a.arg for a in spec.posonlyargs + spec.args]
    if bound and positional:
        positional = positional[1:]
    params: dict[str, Value] = {}
    defaults = spec.defaults
    offset = len(spec.posonlyargs + spec.args) - len(defaults)
    for index, default in enumerate(defaults):
        name = (spec.posonlyargs + spec.args)[offset + index].arg
        params[name] = python_scalar(default.value) if isinstance(default, ast.Constant) else UNKNOWN
    for arg, default in zip(spec.kwonlyargs, spec.kw_defaults):
        if default is not None:
            params[arg.arg] = python_scalar(default.value) if isinstance(default, ast.Constant) else UNKNOWN
    if any(isinstance(a, ast.Starred) for a in call.args):
        return None
    extra = []
    for index, value in enumerate(args):
        if index < len(positional):
            params[positional[index]] = value
        else:
            extra.append(value)
    if spec.vararg is not None:
        params[spec.vararg.arg] = replace(join_all(extra, PYTHON), container=True)
    names = set(positional) | {a.arg for a in spec.kwonlyargs}
    rest = {}
    for name, value in keywords.items():
        if name in names:
            params[name] = value
        else:
            rest[name] = value
    if spec.kwarg is not None:
        params[spec.kwarg.arg] = replace(join_all(rest.values(), PYTHON), container=True)
    return params


def argument_for(function: ast.AST, call: ast.Call, parameter: str) -> ast.AST | None:
    """The argument expression `call` gives to `parameter` of `function` (`self` skipped for a method called
    through an attribute, unless static)."""
    args = function.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in getattr(function, "decorator_list", ()))
    if isinstance(call.func, ast.Attribute) and not static and positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    for name, value in zip(positional, call.args):
        if isinstance(value, ast.Starred):
            return None
        if name == parameter:
            return value
    return next((k.value for k in call.keywords if k.arg == parameter), None)


def gradient_arguments(call: ast.Call, imports) -> list[ast.AST]:
    """The arguments (and receiver) of a call through which gradient flows into its result."""
    func = call.func
    qualname = imports.qualname(func)
    every = [*call.args, *(k.value for k in call.keywords if k.arg not in NON_VALUE_KEYWORDS)]
    if qualname is not None:
        if qualname.startswith(("tensorflow.", "keras.ops.", "keras.activations.", "keras.backend.")):
            op = last_name(qualname)
            keywords = [k.value for k in call.keywords if k.arg in VALUE_KEYWORDS]
            if op in NON_DIFFERENTIABLE_OPS or (qualname in CASTS and not _float_cast(call, imports)):
                return []
            if op in ALL_ARGUMENTS:
                return [*call.args, *keywords]
            if op in WHERE_VALUES:
                return [*call.args[1:], *keywords]
            if op in FIRST_ARGUMENT or qualname in CASTS:
                return [*call.args[:1], *keywords]
            if op in VALUE_FREE_OPS or op[:1].isupper():
                return []
            return []  # an op we do not know: no gradient claimed
        if qualname.startswith("numpy."):
            return []
        return every
    if isinstance(func, ast.Name):
        if func.id in PYTHON_CONVERSIONS:
            return []
        return list(call.args) if func.id in ("sum", "max", "min", "abs") else every
    if isinstance(func, ast.Attribute):
        if func.attr == "numpy":
            return []
        return [func.value, *every]
    return every


def _float_cast(call: ast.Call, imports) -> bool:
    dtype = call.args[1] if len(call.args) > 1 else keyword_argument(call, "dtype")
    if dtype is None:
        return False
    resolved = dtype_of_name(literal_or_qualname(imports, dtype))
    return resolved is None or not (resolved == "bool" or resolved.startswith(("int", "uint")))


def value_children(node: ast.AST) -> list[ast.AST]:
    """The operands of an expression that carry its value (not indices, conditions or shapes)."""
    if isinstance(node, ast.BinOp):
        return [node.left, node.right] if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.MatMult,
                                                               ast.Pow)) else []
    if isinstance(node, ast.UnaryOp):
        return [node.operand] if isinstance(node.op, (ast.USub, ast.UAdd)) else []
    if isinstance(node, ast.IfExp):
        return [node.body, node.orelse]
    if isinstance(node, ast.Attribute):
        return [] if node.attr in SHAPE_ATTRS else [node.value]
    if isinstance(node, (ast.Subscript, ast.Starred, ast.NamedExpr, ast.Await)):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return list(node.elts)
    if isinstance(node, ast.Dict):
        return [v for v in node.values if v is not None]
    return []


def reduced_rank(rank: int | None, node: ast.Call, keywords: dict[str, Value]) -> int | None:
    axis = keyword_argument(node, "axis")
    if axis is None and len(node.args) > 1 and not isinstance(node.args[1], ast.Starred):
        axis = node.args[1]
    keepdims = keyword_argument(node, "keepdims") or keyword_argument(node, "keep_dims")
    if isinstance(keepdims, ast.Constant) and keepdims.value is True:
        return rank
    if axis is None or isinstance(axis, ast.Constant) and axis.value is None:
        return 0
    if rank is None:
        return None
    if isinstance(axis, ast.Constant) or isinstance(axis, ast.UnaryOp):
        return max(rank - 1, 0)
    if isinstance(axis, (ast.Tuple, ast.List)):
        return max(rank - len(axis.elts), 0)
    return None


def numpy_result(function: str, node: ast.Call, args: list[Value], keywords: dict[str, Value], imports) -> Value:
    """The value a NumPy function returns: an array carrying its arguments' origins (a copy through which
    gradients are lost), a constant for array makers, a Python value for shape queries."""
    first = args[0] if args else next(iter(keywords.values()), UNKNOWN)
    dtype_arg = keyword_argument(node, "dtype")
    dtype = dtype_of_name(literal_or_qualname(imports, dtype_arg)) if dtype_arg is not None else None
    head = function.split(".")[0]
    if function in NUMPY_PYTHON_RESULTS or head in ("finfo", "iinfo", "dtype"):
        return Value(Kind.PYTHON, "int", 0 if function != "shape" else 1)
    if head == "random":
        name = last_name(function)
        integer = name in ("randint", "choice", "permutation", "integers")
        return Value(Kind.NUMPY, "int64" if integer and name != "choice" else None if integer else "float64",
                     len(args) if name in ("randn", "rand") else None)
    if function in NUMPY_MAKERS:
        if function.endswith("_like"):
            return Value(Kind.NUMPY, dtype or first.dtype, first.rank)
        if function in ("arange",):
            return Value(Kind.NUMPY, dtype or ("int64" if all(a.dtype == "int" for a in args) else "float64"), 1)
        if function == "linspace":
            return Value(Kind.NUMPY, dtype or "float64", 1)
        if function in ("eye", "identity"):
            return Value(Kind.NUMPY, dtype or "float64", 2)
        shape = first
        rank = shape.length if shape.length is not None else 1 if shape.is_python_scalar else None
        fill = args[1] if function == "full" and len(args) > 1 else None
        return Value(Kind.NUMPY, dtype or (_numpy_dtype(fill.dtype) if fill else "float64"), rank)
    if function in NUMPY_CONVERTERS:
        converted = dtype or (function if function[0] in "fi" and function[-1].isdigit() else _numpy_dtype(first.dtype))
        if len(node.args) > 1 and dtype is None:
            converted = dtype_of_name(literal_or_qualname(imports, node.args[1]))
        return Value(Kind.NUMPY, converted, first.rank)
    arrays = [a for a in args if a.kind is not Kind.PYTHON or a.rank]
    operands = list(args)
    dtype = dtype or promote([_numpy_dtype(a.dtype) if a.kind is Kind.PYTHON and a.rank else a.dtype
                              for a in operands], [Kind.NUMPY]) if operands else None
    if operands and all(a.kind is Kind.PYTHON for a in operands):
        dtype = _numpy_dtype(dtype)  # numpy of Python numbers: a float64/int64 NumPy value, not a weak scalar
    if function in FLOAT_RESULT and dtype is not None and not dtype.startswith(("float", "complex")):
        dtype = "float64"
    rank = None
    if function in ELEMENTWISE:
        ranks = [a.rank for a in arrays]
        rank = max(ranks) if ranks and None not in ranks else (0 if not arrays else None)
    elif function in REDUCTIONS:
        rank = reduced_rank(first.rank, node, keywords)
    elif function == "dot" and len(args) == 2 and None not in (args[0].rank, args[1].rank):
        a, b = args[0].rank, args[1].rank
        rank = a + b - 2 if a and b else max(a, b)
    elif function == "matmul" and len(args) == 2 and None not in (args[0].rank, args[1].rank):
        rank = max(args[0].rank, args[1].rank) if min(args[0].rank, args[1].rank) >= 2 else None
    elif function in ("transpose", "flip", "sort", "cumsum", "cumprod"):
        rank = first.rank
    elif function == "expand_dims":
        rank = None if first.rank is None else first.rank + 1
    elif function == "reshape" and len(args) > 1:
        rank = args[1].length if args[1].length is not None else 1 if args[1].is_python_scalar else None
    elif function in ("stack",):
        element = first.element() if first.container else UNKNOWN
        rank = None if element.rank is None else element.rank + 1
    elif function == "concatenate":
        rank = first.element().rank if first.container else None
    return Value(Kind.NUMPY, dtype, rank)


def _numpy_dtype(dtype: str | None) -> str | None:
    return {"float": "float64", "int": "int64", "bool": "bool"}.get(dtype, dtype)


def literal_or_qualname(imports, node: ast.AST | None) -> str | None:
    """A dtype argument as a name: `'float32'`, `float`, `numpy.float32`, `tensorflow.int32`."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in ("float", "int", "bool", "complex"):
        return node.id
    return imports.qualname(node) or dotted(node)


def ndarray_method(method: str, array: Value, node: ast.Call, args: list[Value], keywords: dict[str, Value],
                   imports) -> Value:
    """The value of `array.<method>(...)` on a NumPy array."""
    if method in ("tolist", "item"):
        return Value(Kind.PYTHON, {"float64": "float", "float32": "float"}.get(array.dtype, None),
                     0 if method == "item" else array.rank)
    if method == "astype":
        dtype = node.args[0] if node.args else keyword_argument(node, "dtype")
        return replace(array, dtype=dtype_of_name(literal_or_qualname(imports, dtype)))
    if method in REDUCTIONS:
        return replace(array, rank=reduced_rank(array.rank, node, keywords))
    if method == "reshape":
        shape = args[0] if len(args) == 1 else None
        rank = (shape.length if shape is not None and shape.length is not None else
                len(args) if args and all(a.is_python_scalar for a in args) else None)
        return replace(array, rank=rank)
    if method in ("flatten", "ravel"):
        return replace(array, rank=1)
    return array


def _use(operand: ast.AST, parent: ast.AST, imports) -> Use:
    """How `parent` consumes `operand`, and whether it would take a tf.Tensor instead of an ndarray."""
    if parent is _DISCARDED or isinstance(operand, _Discarded):
        return Use(parent, operand, "discard", None, True)
    if isinstance(parent, ast.Call):
        if parent.func is operand:
            return Use(parent, operand, "call", None, False)
        qualname = imports.qualname(parent.func)
        callee = qualname or dotted(parent.func) or ""
        if qualname and qualname.startswith("numpy."):
            return Use(parent, operand, "argument", qualname, False)
        if qualname and qualname.startswith(("tensorflow.", "keras.")):
            return Use(parent, operand, "argument", qualname, True)
        if isinstance(parent.func, ast.Name) and parent.func.id in PYTHON_CONVERSIONS:
            # numpy on a tensor only ever ran eagerly, where these take an eager tensor as they take an array
            return Use(parent, operand, "argument", parent.func.id, parent.func.id in EAGER_SAFE_BUILTINS)
        return Use(parent, operand, "argument", callee, True)
    if isinstance(parent, ast.Attribute) and parent.value is operand:
        return Use(parent, operand, "attribute", parent.attr,
                   parent.attr in TENSOR_API and parent.attr not in NDARRAY_ONLY_ATTRIBUTES
                   and parent.attr not in NDARRAY_ONLY_METHODS)
    if isinstance(parent, ast.Subscript):
        if parent.value is operand:
            if isinstance(parent.ctx, (ast.Store, ast.Del)):
                return Use(parent, operand, "item-assignment", None, False)
            boolean = isinstance(parent.slice, (ast.Compare, ast.Name)) and not isinstance(parent.slice, ast.Constant)
            return Use(parent, operand, "subscript", None, not boolean)
        return Use(parent, operand, "index", None, False)
    if isinstance(parent, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        return Use(parent, operand, "operator", None, not isinstance(getattr(parent, "op", None), ast.Not))
    if isinstance(parent, (ast.BoolOp, ast.If, ast.While, ast.Assert, ast.IfExp)):
        return Use(parent, operand, "condition", None, False)
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)):
        return Use(parent, operand, "iterate", None, False)
    if isinstance(parent, (ast.Return, ast.Yield, ast.YieldFrom)):
        return Use(parent, operand, "return", None, True)
    if isinstance(parent, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        item = any(isinstance(t, ast.Subscript) for t in targets)
        return Use(parent, operand, "item-assignment" if item else "store", None, not item)
    if isinstance(parent, ast.Expr):
        return Use(parent, operand, "discard", None, True)
    if isinstance(parent, (ast.FormattedValue, ast.JoinedStr)):
        return Use(parent, operand, "format", None, True)
    return Use(parent, operand, type(parent).__name__.lower(), None, False)


_VALUE_FREE_BUILTINS = frozenset({"len", "str", "repr", "print", "range", "isinstance", "type", "id", "hash",
                                  "format", "callable", "hasattr", "getattr", "enumerate", "zip"})


def _value_free_call(call: ast.Call, imports) -> bool:
    """Does the call's result depend only on shapes/types of its arguments, not their values?"""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in _VALUE_FREE_BUILTINS
    qualname = imports.qualname(func)
    if qualname is not None:
        op = last_name(qualname)
        return qualname in PYTHON_RESULT_FUNCTIONS or op in VALUE_FREE_OPS or (op[:1].isupper()
                                                                             and qualname not in TENSOR_CLASSES)
    return isinstance(func, ast.Attribute) and func.attr in ("get_shape", "get_config", "as_list", "count_params")


def _leaves_path(call: ast.Call, operand: ast.AST, imports) -> bool:
    """Does a value given to this call leave the gradient path (logging, sampling, Python conversion)?"""
    if call.func is operand:
        return False
    qualname = imports.qualname(call.func) or ""
    name = dotted(call.func) or ""
    last = name.rsplit(".", 1)[-1]
    if qualname.startswith(("numpy.random", "tensorflow.print", "tensorflow.summary", "logging")):
        return True
    if qualname.startswith(("numpy.", "tensorflow.", "keras.")) and not qualname.startswith("keras.callbacks"):
        return False  # `tf.math.log` computes; `logger.log` logs
    if isinstance(call.func, ast.Name) and call.func.id in PYTHON_CONVERSIONS:
        return True
    return last in OFF_PATH_CALLS or name.startswith(("logging.", "logger.", "log.", "wandb.", "mlflow."))
