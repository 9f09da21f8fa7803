"""Entry points of the value-flow analysis for one file (`FileAnalysis.values`): flows of the forward path of
every Keras class, of functions handed to Keras (losses, metrics, `Lambda`, `add_loss`), of the functions that
hold a `tf.GradientTape`, and the per-function summaries that connect them. Every flow is memoised per
(function, calling context, argument values); `self.<attr>` resolves through the values stored by the
class's `__init__`/`build` (weights with their dtype and rank, sub-layers, config)."""

from __future__ import annotations

import ast
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from gradfix.analysis.flow import FLAG_PARAMS, Context, FunctionFlow, keyword_argument, literal_or_qualname, \
    tensor_params
from gradfix.analysis.keras import is_keras_2_file
from gradfix.analysis.classes import WEIGHT_FACTORIES
from gradfix.analysis.statements import lines_with, module_statements, spans_a_line, walk_statements
from gradfix.analysis.values import UNKNOWN, Kind, Value, dtype_of_name, join_all, python_scalar, replace
from gradfix.source import line_starts

if TYPE_CHECKING:
    from gradfix.analysis.classes import KerasClass
    from gradfix.analysis.imports import ImportMap
    from gradfix.analysis.keras import ProjectIndex

FORWARD_ENTRY_POINTS = ("call", "__call__")
SELF = Value(Kind.LAYER, "self")  # `self` inside a method of the class a flow is computed for
LOSS_ARGUMENTS = ("loss", "metrics", "weighted_metrics")
KERAS_TAKERS = ("compile", "Lambda", "add_loss")  # calls that hand a function to Keras
_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor, ast.While, ast.With,
             ast.AsyncWith, ast.Try)
# Tensor parameters whose name says they hold integers (token ids, counts, positions): taken as int32, so
# that no rewrite assumes a float dtype for them.
INTEGER_NAMES = re.compile(r"(?:^|_)(?:ids?|indices|index|tokens?|counts?|labels?|positions?|lengths?|segments?)$")


@dataclass(frozen=True)
class FlowView:
    """All flows computed for one function in one role (a helper called from two places with different
    arguments has two flows): a value is the join over them, a call is on the path if it is in any."""

    function: ast.AST
    flows: tuple[FunctionFlow, ...]
    keras_class: object = None

    def value(self, node: ast.AST) -> Value:
        return join_all(flow.values[id(node)] for flow in self.flows if id(node) in flow.values)

    def calls(self) -> list[ast.Call]:
        seen: dict[int, ast.Call] = {}
        for flow in self.flows:
            for call in flow.calls():
                seen.setdefault(id(call), call)
        return sorted(seen.values(), key=lambda c: (c.lineno, c.col_offset))

    def flow_of(self, node: ast.AST) -> FunctionFlow | None:
        return next((flow for flow in self.flows if id(node) in flow.values), None)

    def reaches_output(self, node: ast.AST) -> bool:
        return any(flow.reaches_output(node) for flow in self.flows if id(node) in flow.values)

    def uses(self, node: ast.AST):
        flow = self.flow_of(node)
        return flow.uses(node) if flow else []


class AttributeCache:
    """`ValueAnalysis.class_attributes` kept between analyses of a file as it is edited (the server checks a
    buffer at every pause in typing): a class whose text, and the text of the file that it reads, are unchanged
    gets the values of last time without its `__init__`/`build` being run again. Keyed by that text (exact, or a
    BLAKE2b digest of it), so an entry cannot go stale; the values depend on the project index too, which
    therefore owns the cache (`ProjectIndex.attribute_cache`: a new index starts empty). The least recently used
    entries go first."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._entries: OrderedDict[tuple, dict[str, Value]] = OrderedDict()

    def get(self, key: tuple) -> dict[str, Value] | None:
        stores = self._entries.get(key)
        if stores is None:
            return None
        self._entries.move_to_end(key)
        return dict(stores)  # the caller's own dict: a flow may not change what the next analysis gets

    def put(self, key: tuple, stores: dict[str, Value]) -> None:
        self._entries[key] = dict(stores)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class ValueAnalysis:
    """The value-flow analysis of one file (see gradfix/analysis/flow.py)."""

    def __init__(self, tree: ast.Module, imports: "ImportMap", index: "ProjectIndex | None",
                 keras_classes: Callable[[], list["KerasClass"]] | None = None, text: str | None = None):
        self.tree = tree
        self.text = text  # the source, to skip searches for calls it does not contain
        self.imports = imports
        self.index = index
        self._keras_classes = keras_classes or (lambda: [])
        self._summaries: dict[tuple, FunctionFlow | None] = {}
        self._attributes: dict[int, dict[str, Value]] = {}
        self._foreign: dict[int, list] = {}
        self._lines_with: dict[tuple[str, ...], list[int]] = {}  # words -> the lines that say one (`lines_with`)

    # --- the module ------------------------------------------------------------------------------------
    @cached_property
    def module_functions(self) -> dict[str, ast.AST]:
        return {s.name: s for s in self.tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}

    @cached_property
    def module_classes(self) -> dict[str, ast.ClassDef]:
        return {s.name: s for s in module_statements(self.tree) if isinstance(s, ast.ClassDef)}

    @cached_property
    def _module_lambdas(self) -> dict[str, ast.Lambda]:
        return {s.targets[0].id: s.value for s in self.tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
                and isinstance(s.targets[0], ast.Name) and isinstance(s.value, ast.Lambda)}

    def global_value(self, name: str) -> Value:
        function = self.module_functions.get(name) or self._module_lambdas.get(name)
        if function is not None:
            return Value(Kind.PYTHON, function=function)
        return UNKNOWN

    def callers(self, flow: FunctionFlow) -> list[tuple[FunctionFlow, ast.Call]]:
        """(calling flow, call) for every call whose interpretation is `flow`: where a helper's parameters come
        from and its return value goes."""
        found = []
        for caller in self._summaries.values():
            if caller is None or flow not in caller.callees:  # callees holds every flow of callee_of: skip the rest
                continue
            for call in caller.call_nodes:
                if caller.callee_of.get(id(call)) is flow:
                    found.append((caller, call))
        return found

    def _base_analysis(self, name: str):
        """The analysis (a FileAnalysis) of the source the index keeps for the base `name`, made once per index:
        every file of a run that derives from it asks. None when the source does not parse (cut badly by
        indentation)."""
        from gradfix.analysis import FileAnalysis  # the package imports this module

        source = self.index.sources[name]
        made = self.index.base_analyses
        if (name, source) not in made:
            try:
                made[name, source] = FileAnalysis.from_text(source, self.index)
            except (SyntaxError, ValueError):
                made[name, source] = None
        return made[name, source]

    def keras_class_of(self, function: ast.AST) -> "KerasClass | None":
        """The Keras class the function is a method of, if any."""
        return next((c for c in self._keras_classes() if function in c.node.body), None)

    def method_of(self, keras_class: "KerasClass | None", name: str) -> ast.AST | None:
        """A method of the class, or of a base class defined in this file (mixins and plain helper classes)."""
        if keras_class is None:
            return None
        if name in keras_class.methods:
            return keras_class.methods[name]
        for node in self._file_bases(keras_class):
            for statement in node.body:
                if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) and statement.name == name:
                    return statement
        return None

    def _file_bases(self, keras_class: "KerasClass") -> Iterator[ast.ClassDef]:
        """The base classes of the class defined in this file, and theirs, breadth first (by name)."""
        seen: set[str] = set()
        pending = list(keras_class.node.bases)
        while pending:
            base = pending.pop(0)
            base_name = getattr(base, "id", None) or getattr(base, "attr", None)
            if base_name is None or base_name in seen or base_name not in self.module_classes:
                continue
            seen.add(base_name)
            node = self.module_classes[base_name]
            yield node
            pending.extend(node.bases)

    def foreign_bases(self, keras_class: "KerasClass | None") -> list[tuple["ValueAnalysis", "KerasClass"]]:
        """(its module's analysis, the class) for each base of the class that is a Keras class of another file of
        the project, whose source the index keeps (ProjectIndex.sources)."""
        if keras_class is None or not self.index or not self.index.sources:
            return []
        if id(keras_class) not in self._foreign:
            found = []
            for base in keras_class.node.bases:
                name = getattr(base, "id", None) or getattr(base, "attr", None)
                if name in self.module_classes or name not in self.index.sources:
                    continue
                module = self._base_analysis(name)
                found += [(module.values, c) for c in module.keras_classes if c.name == name] if module else []
            self._foreign[id(keras_class)] = found
        return self._foreign[id(keras_class)]

    def inherited(self, keras_class: "KerasClass | None", name: str
                  ) -> tuple["ValueAnalysis", "KerasClass", ast.AST] | None:
        """A method the class inherits from a project class of another file: that file's analysis, the base
        class and the method. Its code is run there (its names resolve through that file's imports) and is not
        this file's to report or rewrite."""
        for module, base in self.foreign_bases(keras_class):
            method = module.method_of(base, name)
            found = (module, base, method) if method is not None else module.inherited(base, name)
            if found is not None:
                return found
        return None

    # --- classes -----------------------------------------------------------------------------------------
    def class_attributes(self, keras_class: "KerasClass") -> dict[str, Value]:
        """`self.<attr>` -> the join of every value stored into it outside the forward path (`__init__`, `build`
        and the helpers they call), each computed at its program point; a base class of another project file
        contributes what its own methods store (the weights its `build` makes)."""
        key = id(keras_class)
        if key in self._attributes:
            return self._attributes[key]
        cache = self.index.attribute_cache if self.index is not None and self.text is not None else None
        if cache is not None and self.foreign_bases(keras_class):
            cache = None  # their flows, run in another file's analysis, are also callers there (`callers`)
        cache_key = self._attribute_cache_key(keras_class) if cache is not None else None
        cached = cache.get(cache_key) if cache is not None else None
        if cached is not None:
            self._attributes[key] = cached
            return cached
        stores = self._computed_attributes(keras_class)
        if cache is not None and all(value.function is None for value in stores.values()):  # no node of this tree
            cache.put(cache_key, stores)
        return stores

    def _computed_attributes(self, keras_class: "KerasClass") -> dict[str, Value]:
        stores: dict[str, Value] = {}
        key = id(keras_class)
        self._attributes[key] = stores  # visible (partly filled) while computing: build reads __init__'s
        for module, base in self.foreign_bases(keras_class):  # what the base's __init__/build store
            stores.update(module.class_attributes(base))
        forward = set(keras_class.forward_method_names)
        storing = [n for n in keras_class.storing_methods if n not in forward]
        order = sorted(storing, key=lambda n: (n != "__init__", n != "build", keras_class.methods[n].lineno))
        for name in order:
            method = keras_class.methods[name]
            params = {p: v for p, v in entry_parameters(method).items() if v.kind is Kind.PYTHON}
            params.update({"self": SELF} if not _is_static(method) else {})
            if name == "build":
                shape_param = [a.arg for a in method.args.args[1:2]]
                params.update({p: Value(Kind.PYTHON, "int", 1) for p in shape_param})
            context = Context(keras_class, params, records_attributes=True)
            flow = FunctionFlow(self, method, context)
            for flow_ in _with_callees(flow):
                for attr, value in flow_.attribute_stores.items():
                    stores[attr] = stores[attr].join(value) if attr in stores else value
        if any(value.kind is Kind.UNKNOWN for value in stores.values()):  # else the walk for dimensions is moot
            for attr in self._weight_dimensions([keras_class.methods[name] for name in order]):
                if attr in stores and stores[attr].kind is Kind.UNKNOWN:
                    stores[attr] = Value(Kind.PYTHON, "int", 0)
        return stores

    def _attribute_cache_key(self, keras_class: "KerasClass") -> tuple:
        """Everything of the file that `class_attributes` reads, as exact text: the class, the base classes of this
        file whose methods it may run (`method_of`), and what surrounds the classes (`_around_classes`)."""
        bases = tuple(self.text_of(base) for base in self._file_bases(keras_class))
        return self.text_of(keras_class.node), bases, self._around_classes

    @cached_property
    def _around_classes(self) -> bytes:
        """The file's imports (`ImportMap` reads them anywhere), its statements outside classes (module functions
        and lambdas a method may call) and every function a bare name may stand for (`_plain_functions`), as a
        BLAKE2b digest of their exact text: every class's key holds it, and the versions of a long script that
        an editor goes through must not all stay in memory."""
        digest = hashlib.blake2b(digest_size=32)
        for part in (repr(sorted(self.imports.names.items())),
                     *(self.text_of(s) for s in self.tree.body if not isinstance(s, ast.ClassDef)),
                     *(self.text_of(f) for functions in self._plain_functions.values() for f in functions)):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "little") + data)
        return digest.digest()

    def text_of(self, node: ast.AST) -> str:
        """The exact source lines of a statement, decorators included."""
        first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", ()))])
        starts = self._line_starts
        return self.text[starts[first - 1]:starts[node.end_lineno] if node.end_lineno < len(starts) else None]

    @cached_property
    def _line_starts(self) -> list[int]:
        return line_starts(self.text)

    def self_attribute(self, keras_class: "KerasClass | None", attr: str, flow: FunctionFlow) -> Value:
        if keras_class is None:
            return UNKNOWN
        stored = self.class_attributes(keras_class).get(attr)
        if flow.context.records_attributes and attr in flow.attribute_stores:
            stored = flow.attribute_stores[attr]
        if stored is None:
            method = self.method_of(keras_class, attr)
            return Value(Kind.PYTHON, function=method) if method is not None else UNKNOWN
        label = frozenset({f"self.{attr}"})
        if stored.kind is Kind.GRADIENT or attr in keras_class.weight_attrs and stored.kind is not Kind.TENSOR:
            return replace(stored, kind=Kind.GRADIENT, origins=label, derived=label)
        if stored.kind is Kind.LAYER:
            return replace(stored, origins=label, derived=label)
        return stored.off_path()

    def weight_value(self, call: ast.Call, flow: FunctionFlow) -> Value:
        """`self.add_weight(...)`: a trainable float32 weight (unless told otherwise) with the rank of its shape."""
        args = [flow.value(a) for a in call.args]
        shape_node = keyword_argument(call, "shape")
        if shape_node is None and call.args:
            shape_node = call.args[1] if args[0].dtype == "str" and len(call.args) > 1 else call.args[0]
        shape = flow.value(shape_node) if shape_node is not None else Value(Kind.PYTHON, length=0)
        rank = shape.length if shape.length is not None else (0 if shape_node is None else None)
        dtype_node = keyword_argument(call, "dtype")
        dtype = dtype_of_name(literal_or_qualname(self.imports, dtype_node)) if dtype_node is not None else "float32"
        trainable = keyword_argument(call, "trainable")
        frozen = isinstance(trainable, ast.Constant) and trainable.value is False
        return Value(Kind.TENSOR if frozen else Kind.GRADIENT, dtype, rank,
                     frozenset() if frozen else frozenset({"<weight>"}))

    # --- summaries ---------------------------------------------------------------------------------------
    def summary(self, function: ast.AST, context: Context, params: dict[str, Value], depth: int,
                closure: dict | None = None) -> FunctionFlow | None:
        """The flow of `function` called with `params` in `context` (memoised; None while it is being computed,
        for recursion)."""
        is_method = self.method_of(context.keras_class, getattr(function, "name", "")) is function
        if is_method and not _is_static(function):
            params = {**params, _first_param(function): SELF}
        key = (id(function), id(context.keras_class), id(context.seed), context.records_attributes,
               tuple(sorted(params.items(), key=lambda item: item[0])), id(closure) if closure is not None else None)
        if key in self._summaries:
            return self._summaries[key]
        self._summaries[key] = None
        callee_context = Context(context.keras_class, params, context.seed, context.records_attributes)
        flow = FunctionFlow(self, function, callee_context, closure=closure, depth=depth)
        self._summaries[key] = flow
        return flow

    def entry(self, function: ast.AST, keras_class: "KerasClass | None" = None,
              params: dict[str, Value] | None = None,
              seed: Callable[[ast.AST], Value | None] | None = None) -> FunctionFlow:
        """The flow of a function where Keras (or a tape) calls it: parameters are tensors on the gradient path
        unless `params` says otherwise (flags such as `training` are Python values, masks tensors off it)."""
        if params is None:
            params = entry_parameters(function)
        if keras_class is not None and isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and not _is_static(function) and function.args.args:
            params = {**params, _first_param(function): SELF}
        key = ("entry", id(function), id(keras_class), id(seed), tuple(sorted(params.items(), key=lambda i: i[0])))
        if key not in self._summaries:
            self._summaries[key] = FunctionFlow(self, function, Context(keras_class, params, seed))
        return self._summaries[key]

    # --- roles -------------------------------------------------------------------------------------------
    def forward(self, keras_class: "KerasClass") -> list[FlowView]:
        """Views of `call` and of every function it reaches (self helpers, static methods, mixin methods,
        module functions, nested functions and lambdas), each joined over its calling contexts."""
        flows = []
        for name in FORWARD_ENTRY_POINTS:
            method = keras_class.methods.get(name)
            if method is not None:
                flows.extend(_with_callees(self.entry(method, keras_class)))
        # helpers that `call` does not reach with a known binding keep their old role: their tensor parameters
        reached = {id(f.function) for f in flows}
        for name in keras_class.forward_method_names:
            method = keras_class.methods[name]
            if id(method) not in reached:
                params = {p: UNKNOWN for p in tensor_params(method)}
                flows.extend(_with_callees(self.entry(method, keras_class, params=params)))
        return _views(flows, keras_class)

    def keras_functions(self) -> list[tuple[ast.AST, str]]:
        """Functions handed to Keras: `compile(loss=f, metrics=[g])`, `Lambda(f)`, `add_loss(f)`, with where."""
        return [(function, where) for function, _, where in self.keras_function_roles()]

    @cached_property
    def _keras_function_roles(self) -> list[tuple[ast.AST, str, str]]:
        found: list[tuple[ast.AST, str, str]] = []
        if self.text is not None and not any(word in self.text for word in KERAS_TAKERS):
            return found
        for call in self._calls_on_lines_with(KERAS_TAKERS):
            func = call.func
            qualname = self.imports.qualname(func) or ""
            given: list[ast.AST] = []
            if isinstance(func, ast.Attribute) and func.attr == "compile" and not qualname:
                given, role, where = [k.value for k in call.keywords if k.arg in LOSS_ARGUMENTS] + call.args[1:2], \
                    "loss", "in loss/metric function `{}`"
            elif qualname == "keras.layers.Lambda":
                given, role, where = call.args[:1] + [k.value for k in call.keywords if k.arg == "function"], \
                    "lambda", "in the function of a `Lambda` layer, `{}`"
            elif isinstance(func, ast.Attribute) and func.attr == "add_loss":
                given, role, where = call.args[:1], "add_loss", "in `{}`, given to add_loss"
            for value in given:
                for function in self.functions_given(value):
                    found.append((function, role, where.format(getattr(function, "name", "<lambda>"))))
        return found

    def _weight_dimensions(self, methods: list[ast.FunctionDef]) -> set[str]:
        """`units` for `self.add_weight(shape=(input_shape[-1], self.units))`: an attribute that is one dimension of
        a weight's shape is a Python int (`self.units = units` from a parameter without a default says nothing
        more)."""
        dimensions = set()
        for node in (call for method in methods for call in self._calls_on_lines_with(WEIGHT_FACTORIES, method)):
            if isinstance(node.func, ast.Attribute) and node.func.attr in WEIGHT_FACTORIES:
                shape = keyword_argument(node, "shape")
                for element in shape.elts if isinstance(shape, (ast.Tuple, ast.List)) else ():
                    if isinstance(element, ast.Attribute) and isinstance(element.value, ast.Name) \
                            and element.value.id == "self":
                        dimensions.add(element.attr)
        return dimensions

    def _calls_on_lines_with(self, words: tuple[str, ...], root: ast.AST | None = None) -> Iterable[ast.Call]:
        """Calls in the simple statements (of the module, or inside `root`) whose lines contain one of `words`
        (walking only those)."""
        hits = None
        if self.text is not None:
            if words not in self._lines_with:
                self._lines_with[words] = lines_with(self.text, words, self._line_starts)
            hits = self._lines_with[words]
        for statement in module_statements(self.tree) if root is None else walk_statements(root):
            if isinstance(statement, _COMPOUND):
                continue
            if hits is not None and not spans_a_line(statement, hits):
                continue
            yield from (n for n in ast.walk(statement) if isinstance(n, ast.Call))

    def keras_function_roles(self) -> list[tuple[ast.AST, str, str]]:
        """(function, role, where) for every function handed to Keras; role is "loss" (compile's loss/metrics),
        "lambda" (`Lambda(fn)`) or "add_loss"."""
        return self._keras_function_roles

    def functions_given(self, value: ast.AST) -> list[ast.AST]:
        """The functions an argument stands for: a name, a lambda, lists/dicts of those, and the function a
        factory call returns (`loss=weighted_mse(0.5)`)."""
        if isinstance(value, ast.Lambda):
            return [value]
        if isinstance(value, ast.Name):
            definitions = self._plain_functions.get(value.id, [])
            return definitions if len(definitions) == 1 else []
        if isinstance(value, (ast.List, ast.Tuple)):
            return [f for element in value.elts for f in self.functions_given(element)]
        if isinstance(value, ast.Dict):
            return [f for element in value.values for f in self.functions_given(element)]
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
            factories = self._plain_functions.get(value.func.id, [])
            if len(factories) == 1:
                return _returned_functions(factories[0])
        return []

    @cached_property
    def _plain_functions(self) -> dict[str, list[ast.AST]]:
        """Functions by name, module level or nested (methods are not reachable by a bare name)."""
        methods = {id(s) for c in self.module_classes.values() for s in c.body}
        found: dict[str, list[ast.AST]] = {}
        for node in module_statements(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and id(node) not in methods:
                found.setdefault(node.name, []).append(node)
        return found

    def views(self, function: ast.AST, keras_class: "KerasClass | None" = None,
              params: dict[str, Value] | None = None) -> list[FlowView]:
        """Views of a function where Keras calls it (a `Lambda` layer's function: its parameters on the path)
        and of every function it reaches."""
        return _views(_with_callees(self.entry(function, keras_class, params=params)), keras_class)

    def loss_flow(self, function: ast.AST, keras_class: "KerasClass | None" = None) -> list[FlowView]:
        """A loss/metric/Lambda function as Keras calls it: `y_true` is a label (off the path), `y_pred` and
        every other tensor parameter are on it."""
        params = entry_parameters(function)
        names = [a.arg for a in function.args.posonlyargs + function.args.args]
        if keras_class is not None and not _is_static(function):
            names = names[1:]
        if len(names) >= 2 and names[0] in ("y_true", "labels", "y", "target", "targets", "true"):
            # Keras 3 converts the labels to floatx before calling the loss; tf_keras casts them to y_pred's
            # dtype only when both are floats or both ints: int labels stay int
            keras_2 = self.text is not None and is_keras_2_file(self.text)
            params[names[0]] = Value(Kind.TENSOR, None if keras_2 else "float32")
        if len(names) >= 2:  # Keras casts y_true to the dtype of y_pred, a model's float output
            params[names[1]] = replace(params.get(names[1], Value(Kind.GRADIENT)), dtype="float32")
        return self.views(function, keras_class, params)


def entry_parameters(function: ast.AST) -> dict[str, Value]:
    """Parameter values where Keras calls the function: tensors on the gradient path for tensor parameters,
    Python flags, masks as tensors off the path, literal defaults as Python values."""
    params: dict[str, Value] = {}
    if not hasattr(function, "args"):
        return params
    tensors = tensor_params(function)
    args = function.args
    positional = args.posonlyargs + args.args
    defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
    defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
    for arg in positional + args.kwonlyargs + [a for a in (args.vararg, args.kwarg) if a]:
        name = arg.arg
        if name in tensors:
            params[name] = Value(Kind.GRADIENT, "int32" if INTEGER_NAMES.search(name) else None,
                                 origins=frozenset({name}), container=arg is args.vararg)
        elif "mask" in name:
            params[name] = Value(Kind.TENSOR)
        elif isinstance(defaults.get(name), ast.Constant):
            params[name] = python_scalar(defaults[name].value)
        elif name in FLAG_PARAMS:
            params[name] = Value(Kind.PYTHON, "bool", 0) if name != "kwargs" else UNKNOWN
    return params


def _first_param(function: ast.AST) -> str:
    args = function.args.posonlyargs + function.args.args
    return args[0].arg if args else "self"


def _is_static(function: ast.AST) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in getattr(function, "decorator_list", ()))


def _with_callees(flow: FunctionFlow) -> list[FunctionFlow]:
    found: list[FunctionFlow] = []
    seen: set[int] = set()
    stack = [flow]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        stack.extend(current.callees)
    return found


def _views(flows: Iterable[FunctionFlow], keras_class) -> list[FlowView]:
    by_function: dict[int, list[FunctionFlow]] = {}
    functions: dict[int, ast.AST] = {}
    for flow in flows:
        by_function.setdefault(id(flow.function), []).append(flow)
        functions[id(flow.function)] = flow.function
    return [FlowView(functions[key], tuple(group), keras_class) for key, group in by_function.items()]


def _returned_functions(factory: ast.AST) -> list[ast.AST]:
    nested = {s.name: s for s in factory.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}
    returned = []
    for statement in factory.body:
        if isinstance(statement, ast.Return) and statement.value is not None:
            value = statement.value
            if isinstance(value, ast.Lambda):
                returned.append(value)
            elif isinstance(value, ast.Name) and value.id in nested:
                returned.append(nested[value.id])
    return returned


