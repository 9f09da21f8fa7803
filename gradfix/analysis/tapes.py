"""`tf.GradientTape` blocks: which `with` statements are tapes, what each one differentiates, and which values
in its block lie on the way from the gradient's sources to its target. Shared by the training-loop rules.

A tape records the TensorFlow operations run inside its block on values that depend on what it watches
(the variables it touches, tensors passed to `tape.watch`). `tape.gradient(target, sources)` is None for a
source when nothing recorded connects the two. So the rules ask two questions about an expression in the
block: does it depend on the sources (`Tape.depends_on_sources`), and does its value reach the target
(`Tape.reaches_target`)? Both answers are deliberately narrow: a value counts as depending on the sources
only through a call of the model whose variables are differentiated (`model(x)` for
`tape.gradient(loss, model.trainable_variables)`), a source itself, or a watched tensor — so a teacher
model, a frozen backbone or the labels never make a rule fire.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Iterator

from gradfix.analysis.flow import FunctionFlow, dotted, keyword_argument  # noqa: F401 - re-exported
from gradfix.analysis.statements import class_of_methods, scoped_statements, spans_a_line, walk_statements
from gradfix.analysis.tensors import TensorScope, assigned_names
from gradfix.analysis.values import CONTAINER_MUTATORS, Kind, Value

if TYPE_CHECKING:
    from gradfix.analysis.classes import KerasClass
    from gradfix.analysis.imports import ImportMap
    from gradfix.analysis.program import ValueAnalysis

GRADIENT_TAPE_CLASSES = frozenset({"tensorflow.GradientTape", "tensorflow.autodiff.GradientTape",
                                   "tensorflow.python.eager.backprop.GradientTape"})
GRADIENT_METHODS = frozenset({"gradient", "jacobian", "batch_jacobian"})
VARIABLE_COLLECTIONS = frozenset({"trainable_variables", "trainable_weights", "variables", "weights"})
# Methods of a model that return Python/NumPy values or nothing, not tensors of the forward pass.
NON_FORWARD_METHODS = frozenset({"get_shape", "get_config", "as_list", "count_params", "get_weights", "summary", "save", "save_weights", "to_json", "evaluate",
                                            "fit", "compile", "reset_metrics", "reset_states", "predict",
                                 "predict_on_batch"})
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_BINDINGS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor, ast.NamedExpr, ast.withitem)


def own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """Every node of a function (or module) except those of the functions, lambdas and classes nested in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, _SCOPES):
            stack.extend(ast.iter_child_nodes(node))


def bound_names(binding: ast.AST) -> list[str]:
    if isinstance(binding, ast.Assign):
        return [name for target in binding.targets for name in assigned_names(target)]
    if isinstance(binding, ast.withitem):
        return list(assigned_names(binding.optional_vars)) if binding.optional_vars else []
    return list(assigned_names(binding.target))


def bound_value(binding: ast.AST) -> ast.AST | None:
    if isinstance(binding, (ast.For, ast.AsyncFor)):
        return binding.iter
    if isinstance(binding, ast.withitem):
        return binding.context_expr
    return binding.value


def names_read(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@dataclass(eq=False)
class GradientRequest:
    """`tape.gradient(target, sources)` (also `jacobian`, `batch_jacobian`, `optimizer.minimize(loss, vars, tape=tape)`)."""

    call: ast.Call
    target: ast.expr
    sources: ast.expr | None


@dataclass(eq=False)
class Tape:
    node: ast.With | ast.AsyncWith
    name: str | None  # the name the tape is used through (`as tape`, or `tape` in `with tape:`)
    persistent: bool
    scope: ast.AST  # the function (or module) the block is in
    imports: "ImportMap"
    bindings: dict[str, list[ast.AST]]  # every binding of each name in the scope
    module_bindings: dict[str, list[ast.AST]]  # and in the module, for the globals a function reads
    requests: list[GradientRequest] = field(default_factory=list)
    watch_calls: list[ast.Call] = field(default_factory=list)
    values: "ValueAnalysis | None" = None  # the file's value-flow analysis
    owner_class: ast.ClassDef | None = None  # the class whose method holds the block
    keras_class: "KerasClass | None" = None  # that class, when it is a Keras class: `self.method()` is followed

    def visible_bindings(self, name: str) -> list[ast.AST]:
        """The bindings a read of `name` in the tape's function can see: its own, else the module's (none for
        a parameter)."""
        if name in self.bindings or name in _parameters(self.scope):
            return self.bindings.get(name, [])
        return self.module_bindings.get(name, [])

    @property
    def body(self) -> list[ast.stmt]:
        return self.node.body

    @cached_property
    def _inside(self) -> set[int]:
        return {id(node) for statement in self.body for node in ast.walk(statement)}

    def contains(self, node: ast.AST) -> bool:
        """Is the node part of the block (so what it computes is recorded)?"""
        return id(node) in self._inside

    # --- what is differentiated -------------------------------------------------------------------------
    @cached_property
    def _sources(self) -> set[tuple[str, bool]] | None:
        """(dotted name, whether it is itself a variable/tensor rather than a model holding variables) for every
        source of every request; None when some request's sources cannot be resolved."""
        found: set[tuple[str, bool]] = set()
        for request in self.requests:
            sources = self._sources_of(request.sources, depth=0) if request.sources is not None else None
            if sources is None:
                return None
            found |= sources
        return found

    @property
    def owners(self) -> frozenset[str] | None:
        """Dotted names whose variables the gradient is taken of: `model` for `model.trainable_variables`,
        `w` for `[w, b]`, `x` for a tensor. None when some request's sources cannot be resolved."""
        return None if self._sources is None else frozenset(name for name, _ in self._sources)

    @property
    def source_values(self) -> frozenset[str]:
        """The sources that are variables or tensors themselves (`w`, `self.kernel`, `x`)."""
        return frozenset(name for name, is_value in self._sources or () if is_value)

    def _sources_of(self, expr: ast.AST, depth: int) -> set[tuple[str, bool]] | None:
        if depth > 5:
            return None
        if isinstance(expr, ast.Attribute) and expr.attr in VARIABLE_COLLECTIONS:
            owner = dotted(expr.value)
            return {(owner, False)} if owner else None
        if isinstance(expr, ast.Subscript):
            return self._sources_of(expr.value, depth + 1)
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left, right = self._sources_of(expr.left, depth + 1), self._sources_of(expr.right, depth + 1)
            return None if left is None or right is None else left | right
        if isinstance(expr, (ast.List, ast.Tuple)):
            return self._union(expr.elts, depth)
        if isinstance(expr, ast.Starred):
            return self._sources_of(expr.value, depth + 1)
        if isinstance(expr, ast.ListComp) and len(expr.generators) == 1:
            return self._sources_of(expr.generators[0].iter, depth + 1)
        if isinstance(expr, ast.Name):
            values = [bound_value(b) for b in self.bindings.get(expr.id, [])]
            collections = [v for v in values if v is not None and _names_variables(v)]
            if not collections:
                return {(expr.id, True)}  # the source is this variable or tensor itself
            return self._union(collections, depth)
        if isinstance(expr, ast.Attribute) and dotted(expr):
            return {(dotted(expr), True)}
        return None

    def _union(self, exprs: list[ast.AST], depth: int) -> set[tuple[str, bool]] | None:
        found: set[tuple[str, bool]] = set()
        for expr in exprs:
            sources = self._sources_of(expr, depth + 1)
            if sources is None:
                return None
            found |= sources
        return found

    def is_owned(self, name: str | None) -> bool:
        """Is `name` (dotted) a differentiated model, part of one, or a model containing one?"""
        if not name or not self.owners:
            return False
        return any(name == o or name.startswith(o + ".") or o.startswith(name + ".") for o in self.owners)

    def runs_model(self, func: ast.AST) -> bool | None:
        """Does calling `func` (owned: see `is_owned`) run the differentiated model or a part of it? True for
        `model(x)`, `model.call(x)`, `self.encoder(x)` with `encoder` a layer; False for `model.summary()`,
        `self.buffer.sample()` or a method of the class that calls no layer (`self.unpack(data)`); None when
        it cannot be told (a method inherited from elsewhere), so the arguments decide."""
        name = dotted(func)
        if isinstance(func, ast.Attribute) and func.attr in NON_FORWARD_METHODS:
            return False
        if name in self.owners or (isinstance(func, ast.Attribute) and func.attr in ("call", "__call__")):
            return True
        owner = max((o for o in self.owners if name.startswith(o + ".")), key=len, default=None)
        if owner != "self" or self.owner_class is None:
            return True
        return _runs_layers(self.owner_class, name.split(".")[1:])

    @cached_property
    def watched_names(self) -> set[str]:
        """Names passed to `tape.watch`, and the names in a list such a name was bound to (`xs = [a, b]`)."""
        names = set()
        for call in self.watch_calls:
            for arg in call.args:
                names |= names_read(arg)
        for name in list(names):
            for binding in self.bindings.get(name, []):
                value = bound_value(binding)
                if isinstance(value, (ast.List, ast.Tuple)):
                    names |= names_read(value)
        return names

    # --- data flow ---------------------------------------------------------------------------------------
    @cached_property
    def flow(self) -> FunctionFlow:
        """The value flow of the tape's function in which the gradient path starts at the tape's sources: calls
        of the differentiated model, source variables, watched tensors. Other values (labels, a teacher's
        output, data) carry no gradient."""
        from gradfix.analysis.program import ValueAnalysis
        program = self.values or ValueAnalysis(ast.Module(body=[], type_ignores=[]), self.imports, None)
        params = {name: Value(Kind.GRADIENT, origins=frozenset({name})) for name in _parameters(self.scope)
                  if name in self.source_values or name in self.watched_names}
        return program.entry(self.scope, self.keras_class, params=params, seed=self._seed)

    def _seed(self, node: ast.AST) -> Value | None:
        if isinstance(node, ast.Call):
            name = dotted(node.func)
            if self.is_owned(name) and self.runs_model(node.func):
                return Value(Kind.GRADIENT, "float32", origins=frozenset({name}))
            return None
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            name = dotted(node)
            if name and (name in self.source_values or name in self.watched_names):
                return Value(Kind.GRADIENT, origins=frozenset({name}))
        return None

    @cached_property
    def source_scope(self) -> TensorScope:
        """The tape's function as a TensorScope whose tensors are the values that depend on the sources."""
        from gradfix.analysis.program import FlowView
        view = FlowView(self.scope, (self.flow,))
        return TensorScope(self.scope, self.imports, view=view, through_unknown_calls=True)

    def value(self, expr: ast.AST) -> Value:
        """What the expression holds in the tape's function (gradient path = depends on the sources)."""
        return self.flow.value(expr)

    @cached_property
    def target_recorded(self) -> bool:
        """Does some gradient target depend on the sources through TensorFlow alone? Then a NumPy copy on
        another way to it (`weights = np.exp(-preds.numpy())`) may be a constant on purpose."""
        return any(self.value(request.target).on_gradient_path for request in self.requests)

    def depends_on_sources(self, expr: ast.AST) -> bool:
        """Does the value depend on what the gradient is taken of (a call of the differentiated model, a
        source variable, a watched tensor), anywhere in the function — through TensorFlow, NumPy or Python?"""
        return self.value(expr).may_carry_gradient

    def computes_from_sources(self, expr: ast.AST) -> bool:
        """Is the value the result of an operation on the sources (a forward pass, loss arithmetic), not
        merely a reference to a variable?"""
        return not isinstance(expr, (ast.Name, ast.Attribute, ast.Subscript)) and self.depends_on_sources(expr)

    @cached_property
    def _target_names(self) -> set[str]:
        return {name for request in self.requests for name in names_read(request.target)}

    @cached_property
    def _path(self) -> tuple[set[int], set[str]]:
        """(ids of the expressions whose value reaches a target through the block, the names read by them)."""
        inside = self._inside_statements
        return self.flow.backward_slice([r.target for r in self.requests], lambda s: id(s) in inside)

    @cached_property
    def _inside_statements(self) -> set[int]:
        return {id(n) for statement in self.body for n in _walk_own(statement)}

    def reaches_target(self, node: ast.AST) -> bool:
        """Is the node in the block, inside an expression whose value flows into a gradient target?"""
        return self.contains(node) and id(node) in self._path[0]

    def on_gradient_path(self, node: ast.AST) -> bool:
        return self.reaches_target(node) and self.depends_on_sources(node)

    @cached_property
    def names_bound_inside(self) -> set[str]:
        return {name for statement in self.body for n in _walk_own(statement) if isinstance(n, _BINDINGS)
                for name in bound_names(n)}

    @cached_property
    def free_path_names(self) -> set[str]:
        """Names the block reads on the way to a target, or targets themselves, that the block does not bind:
        their values were computed outside the tape."""
        return (self._path[1] | self._target_names) - self.names_bound_inside


@dataclass(eq=False)
class LossCallable(Tape):
    """`optimizer.minimize(lambda: loss, var_list)`: the optimizer opens its own tape around the call of the
    lambda, so the lambda's body is the block that gets recorded."""

    @cached_property
    def body(self) -> list[ast.stmt]:
        return [ast.copy_location(ast.Expr(value=self.node.body), self.node.body)]


def container_mutated(node: ast.AST) -> ast.Name | None:
    """`losses` for `losses.append(...)` and the like."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in CONTAINER_MUTATORS \
            and isinstance(node.func.value, ast.Name):
        return node.func.value
    return None


def _runs_layers(cls: ast.ClassDef, path: list[str], depth: int = 0) -> bool | None:
    """Does `self.<path>(...)` run layers or weights of `cls`: a sub-layer, or a method that (through other
    methods) calls `self(...)`, a sub-layer or reads a weight? None when the class does not define it."""
    attribute_values = _self_attribute_values(cls)
    methods = {s.name: s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if len(path) > 1 or depth > 3:
        return False if path[0] in attribute_values and not _is_layer_value(attribute_values[path[0]]) else None
    name = path[0]
    if name in attribute_values:
        return _is_layer_value(attribute_values[name])
    if name not in methods:
        return None
    for node in ast.walk(methods[name]):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "self":
            return True
        target = dotted(node.func) if isinstance(node, ast.Call) else None
        if target and target.startswith("self.") and target.count(".") == 1 and target != "self." + name:
            if _runs_layers(cls, [target[5:]], depth + 1):
                return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self" \
                and node.attr in attribute_values and _is_weight_value(attribute_values[node.attr]):
            return True
    return False


def _self_attribute_values(cls: ast.ClassDef) -> dict[str, list[ast.AST]]:
    values: dict[str, list[ast.AST]] = {}
    for node in walk_statements(cls):  # assignments are statements: no expression needs a visit
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute) and dotted(target.value) == "self":
                    values.setdefault(target.attr, []).append(node.value)
    return values


def _is_layer_value(values: list[ast.AST]) -> bool:
    """A value made by calling a class (`keras.layers.Dense(4)`, `Encoder()`), or a list of such."""
    for value in values:
        elements = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
        for element in elements:
            if isinstance(element, ast.ListComp):
                element = element.elt
            if isinstance(element, ast.Call) and (dotted(element.func) or "").rsplit(".", 1)[-1][:1].isupper():
                return True
    return False


def _is_weight_value(values: list[ast.AST]) -> bool:
    return any(isinstance(v, ast.Call) and (dotted(v.func) or "").rsplit(".", 1)[-1] in ("add_weight", "Variable")
               for v in values)


def _names_variables(value: ast.AST) -> bool:
    """Is the value a collection of variables (`model.trainable_variables`, `a.weights + b.weights`)?"""
    return any(isinstance(n, ast.Attribute) and n.attr in VARIABLE_COLLECTIONS for n in ast.walk(value))


def _walk_own(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    if not isinstance(node, _SCOPES):
        yield from own_nodes(node)


def find_tapes(tree: ast.Module, imports: "ImportMap", values: "ValueAnalysis | None" = None) -> list[Tape]:
    """Every GradientTape block. Found from the statements (a tenth of the nodes); only the functions holding a
    `with` that may open a tape are walked in full, for their bindings and `tape.gradient` calls."""
    candidates: dict[ast.AST, list[ast.With | ast.AsyncWith]] = {}
    for statement, scope, in_class in scoped_statements(tree):
        if isinstance(statement, (ast.With, ast.AsyncWith)) and not in_class \
                and any(_may_open_tape(item, imports) for item in statement.items):
            candidates.setdefault(scope, []).append(statement)
    if not candidates:
        return []
    class_of = class_of_methods(tree)
    tapes: list[Tape] = []
    module_bindings = _bindings(list(own_nodes(tree)))
    for scope, withs in candidates.items():
        nodes = list(own_nodes(scope))
        bindings = module_bindings if scope is tree else _bindings(nodes)
        scope_tapes = [tape for node in withs for tape in _tapes_of(node, scope, imports, bindings, module_bindings)]
        if scope_tapes:
            _attach_calls(scope_tapes, [n for n in nodes if isinstance(n, ast.Call)])
            for tape in scope_tapes:
                tape.values = values
                tape.owner_class = class_of.get(id(scope))
            tapes.extend(scope_tapes)
    return sorted(tapes, key=lambda t: (t.node.lineno, t.node.col_offset))


def _may_open_tape(item: ast.withitem, imports: "ImportMap") -> bool:
    """Could this `with` item be a GradientTape: a call of the class, or a name bound elsewhere (`with tape:`)."""
    expr = item.context_expr
    return isinstance(expr, ast.Name) or (isinstance(expr, ast.Call)
                                          and imports.qualname(expr.func) in GRADIENT_TAPE_CLASSES)


def find_loss_callables(tree: ast.Module, imports: "ImportMap", values: "ValueAnalysis | None" = None,
                        lines: list[int] | None = None) -> list[LossCallable]:
    """Every `x.minimize(lambda: ..., var_list)` without a `tape=`, as the block its optimizer records.
    `lines` (sorted): the only lines such a call may be on (those that say `minimize`); only the functions with
    a statement over one of them are walked in full."""
    found: list[LossCallable] = []
    module_bindings = _bindings(list(own_nodes(tree)))
    scopes = dict.fromkeys(
        scope for statement, scope, in_class in scoped_statements(tree) if not in_class
        and not isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
        and (lines is None or spans_a_line(statement, lines)))
    for scope in scopes:
        nodes = list(own_nodes(scope))
        bindings = module_bindings if scope is tree else _bindings(nodes)
        for call in nodes:
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "minimize" \
                    and call.args and isinstance(call.args[0], ast.Lambda) and keyword_argument(call, "tape") is None:
                sources = call.args[1] if len(call.args) > 1 else keyword_argument(call, "var_list")
                if sources is not None:
                    found.append(LossCallable(call.args[0], None, False, scope, imports, bindings, module_bindings,
                                              [GradientRequest(call, call.args[0].body, sources)], values=values))
    return found


def _bindings(nodes: list[ast.AST]) -> dict[str, list[ast.AST]]:
    bindings: dict[str, list[ast.AST]] = {}
    for node in nodes:
        if isinstance(node, _BINDINGS):
            for name in bound_names(node):
                bindings.setdefault(name, []).append(node)
    return bindings


def _parameters(scope: ast.AST) -> set[str]:
    if not isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return set()
    args = scope.args
    every = args.posonlyargs + args.args + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]
    return {a.arg for a in every}


def _tapes_of(node: ast.With | ast.AsyncWith, scope: ast.AST, imports: "ImportMap",
              bindings: dict[str, list[ast.AST]], module_bindings: dict[str, list[ast.AST]]) -> Iterable[Tape]:
    for item in node.items:
        expr, name = item.context_expr, None
        if isinstance(item.optional_vars, ast.Name):
            name = item.optional_vars.id
        if isinstance(expr, ast.Name):  # `tape = tf.GradientTape(); with tape:`
            name = expr.id
            created = [bound_value(b) for b in bindings.get(expr.id, [])]
            expr = created[0] if len(created) == 1 else None
        if isinstance(expr, ast.Call) and imports.qualname(expr.func) in GRADIENT_TAPE_CLASSES:
            persistent = any(k.arg == "persistent" and not (isinstance(k.value, ast.Constant) and not k.value.value)
                             for k in expr.keywords)
            yield Tape(node, name, persistent, scope, imports, bindings, module_bindings)


def _attach_calls(tapes: list[Tape], calls: list[ast.Call]) -> None:
    """Give each `tape.gradient(...)`/`tape.watch(...)` to the latest tape of that name that starts before it."""
    for call in calls:
        tape_name, request = _request_of(call)
        if tape_name is None:
            continue
        candidates = [t for t in tapes if t.name == tape_name and (t.node.lineno, t.node.col_offset)
                      < (call.lineno, call.col_offset)]
        if not candidates:
            continue
        tape = max(candidates, key=lambda t: (t.node.lineno, t.node.col_offset))
        if request is None:
            tape.watch_calls.append(call)
        else:
            tape.requests.append(request)


def _request_of(call: ast.Call) -> tuple[str | None, GradientRequest | None]:
    """(tape name, request) for `tape.gradient(t, s)` etc.; (tape name, None) for `tape.watch(x)`."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        if func.attr == "watch":
            return func.value.id, None
        if func.attr in GRADIENT_METHODS and call.args:
            sources = call.args[1] if len(call.args) > 1 else keyword_argument(call, "sources")
            return func.value.id, GradientRequest(call, call.args[0], sources)
    tape = keyword_argument(call, "tape")
    if isinstance(func, ast.Attribute) and func.attr == "minimize" and isinstance(tape, ast.Name) and call.args:
        target = call.args[0]
        sources = call.args[1] if len(call.args) > 1 else keyword_argument(call, "var_list")
        if not isinstance(target, ast.Lambda):
            return tape.id, GradientRequest(call, target, sources)
    return None, None
