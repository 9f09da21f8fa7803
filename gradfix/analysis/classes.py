"""What a Keras class holds (weights, sub-layers) and which of its methods run on the forward path."""

from __future__ import annotations

import ast
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from gradfix.analysis.keras import KerasKind, ProjectIndex
from gradfix.analysis.statements import walk_statements
from gradfix.analysis.tensors import TENSOR_CLASSES, TensorScope, is_self

if TYPE_CHECKING:
    from gradfix.analysis.imports import ImportMap
    from gradfix.analysis.program import ValueAnalysis

FORWARD_ENTRY_POINTS = ("call", "__call__")
# Layers that prepare data (tokenizers, preprocessors, image converters) run outside the differentiable
# path by design, usually in tf.data pipelines; numpy in them is intended.
PREPROCESSING_NAMES = re.compile(r"Preprocess|Tokeniz|Vectoriz|Lookup|Packer|Converter|Augment|Discretiz|Hashing")
WEIGHT_FACTORIES = ("add_weight", "add_variable")


@dataclass
class KerasClass:
    node: ast.ClassDef
    kind: KerasKind
    imports: "ImportMap"
    index: ProjectIndex
    methods: dict[str, ast.FunctionDef] = field(default_factory=dict)
    # `self.<attr> = <value>` anywhere in the class, in source order.
    attribute_values: dict[str, list[ast.AST]] = field(default_factory=dict)
    values: "ValueAnalysis | None" = None  # the file's value-flow analysis (set by FileAnalysis)
    storing_methods: set[str] = field(default_factory=set)  # methods that assign `self.<attr> = ...`

    def __post_init__(self):
        for statement in self.node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.methods[statement.name] = statement
        for name, method in self.methods.items():
            for node in walk_statements(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Attribute) and is_self(target.value):
                            self.attribute_values.setdefault(target.attr, []).append(node.value)
                            self.storing_methods.add(name)

    @property
    def name(self) -> str:
        return self.node.name

    def is_weight_creation(self, value: ast.AST) -> bool:
        """`self.add_weight(...)`, `tf.Variable(...)`, `keras.Variable(...)`."""
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr in WEIGHT_FACTORIES:
            return True
        return self.imports.qualname(func) in TENSOR_CLASSES

    def is_layer_creation(self, value: ast.AST) -> bool:
        """A call of a Keras layer/model class (any spelling, or a Keras class of this run)."""
        if not isinstance(value, ast.Call):
            return False
        func = value.func
        qualname = self.imports.qualname(func)
        if qualname is None and isinstance(func, ast.Name):
            qualname = func.id
        kind = self.index.kind_of_base(qualname)
        return kind in (KerasKind.LAYER, KerasKind.MODEL)

    @cached_property
    def weight_attrs(self) -> dict[str, ast.Call]:
        return {attr: value for attr, values in self.attribute_values.items()
                for value in values if self.is_weight_creation(value)}

    @cached_property
    def layer_attrs(self) -> set[str]:
        return {attr for attr, values in self.attribute_values.items() if any(map(self.is_layer_creation, values))}

    @cached_property
    def self_calls(self) -> dict[str, list[str]]:
        """Method name -> the `self.<name>(...)` calls in it, in `ast.walk` order: one walk of each method, shared
        by the forward path and the state-creating methods (each asked by several rules)."""
        return {name: _self_calls_in(method) if self._may_call_self(method) else [] for name, method in
                self.methods.items()}

    def _may_call_self(self, method: ast.AST) -> bool:
        """False when the method's text has no `self.<name>(`, which spares its walk."""
        return self.values is None or self.values.text is None or may_call_self(self.values.text_of(method))

    @cached_property
    def forward_method_names(self) -> list[str]:
        """`call` and every method it reaches through `self.<method>(...)`, breadth first."""
        order = [name for name in FORWARD_ENTRY_POINTS if name in self.methods]
        for name in order:
            for callee in self.self_calls[name]:
                if callee in self.methods and callee not in order:
                    order.append(callee)
        return order

    @cached_property
    def state_creating_methods(self) -> frozenset[str]:
        """`__init__`, `build` and the helpers only they reach: where Keras allows `add_weight` (Keras 3 locks a
        layer's state once `build` has run, so `add_weight` in a later method raises). Asked by several rules."""
        forward = set(self.forward_method_names)
        reached = [name for name in ("__init__", "build") if name in self.methods]
        for name in reached:
            for callee in self.self_calls[name]:
                if callee in self.methods and callee not in reached and callee not in forward:
                    reached.append(callee)
        callers: dict[str, set[str]] = {}
        for caller, callees in self.self_calls.items():
            for callee in callees:
                callers.setdefault(callee, set()).add(caller)
        entry_points = {"__init__", "build"}
        return frozenset(name for name in reached
                         if name in entry_points or callers.get(name, set()) <= set(reached))

    @cached_property
    def is_preprocessing(self) -> bool:
        bases = [ast.unparse(b) for b in self.node.bases]
        return any(PREPROCESSING_NAMES.search(name) for name in [self.name, *bases])

    @cached_property
    def forward_scopes(self) -> list[TensorScope]:
        """Tensor scopes of the forward path (`call` and what it reaches), from the file's value-flow analysis."""
        if self.is_preprocessing or self.values is None:
            return []
        return [TensorScope(view.function, self.imports, self, view=view) for view in self.values.forward(self)]


# How a call `self.<name>(...)` can be written: `self`, then (past spaces, line continuations, comments and the
# closing bracket of `(self)`) a dot, a name, and (past the same, and the bracket of `(self.f)(x)`) an opening
# bracket. A superset of the calls in ASCII text; other text is walked (identifiers are NFKC-normalised there).
_SELF_CALL_TEXT = re.compile(r"\bself(?:[\s)\\]|#[^\r\n]*)*\.(?:[\s\\]|#[^\r\n]*)*\w+(?:[\s)\\]|#[^\r\n]*)*\(",
                             re.ASCII)
# Nodes below which no call can be: left out of the walk for self-calls, which keeps `ast.walk`'s order for the rest.
_LEAVES = (ast.Name, ast.Constant, ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)


def _self_calls_in(method: ast.AST) -> list[str]:
    """The methods `method` calls on `self`, in `ast.walk` order (breadth first): the walk of every method of
    every Keras class, so it skips the leaves (names, constants, contexts: half the nodes) that hold no call."""
    found = []
    pending = deque([method])
    while pending:
        node = pending.popleft()
        callee = self_method_called(node)
        if callee:
            found.append(callee)
        for name in node._fields:
            child = getattr(node, name, None)
            if isinstance(child, list):
                pending.extend(c for c in child if isinstance(c, ast.AST) and not isinstance(c, _LEAVES))
            elif isinstance(child, ast.AST) and not isinstance(child, _LEAVES):
                pending.append(child)
    return found


def may_call_self(text: str) -> bool:
    """Whether code may call a method on `self`: False only when no `self.<name>(` can be in its text."""
    return not text.isascii() or _SELF_CALL_TEXT.search(text) is not None


def self_method_called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_self(node.func.value):
        return node.func.attr
    return None
