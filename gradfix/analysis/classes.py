"""What a Keras class holds (weights, sub-layers) and which of its methods run on the forward path."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from gradfix.analysis.keras import KerasKind, ProjectIndex
from gradfix.analysis.statements import walk_statements
from gradfix.analysis.tensors import TENSOR_CLASSES, TensorScope, is_self, tensor_params

if TYPE_CHECKING:
    from gradfix.analysis.imports import ImportMap

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

    def __post_init__(self):
        for statement in self.node.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.methods[statement.name] = statement
        for method in self.methods.values():
            for node in walk_statements(method):
                if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                    for target in targets:
                        if isinstance(target, ast.Attribute) and is_self(target.value):
                            self.attribute_values.setdefault(target.attr, []).append(node.value)

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

    def weight_rank(self, attr: str) -> int | None:
        """Rank of a weight whose shape is written as a literal tuple/list (`add_weight(shape=(a, b))`,
        `tf.Variable(tf.zeros([a, b]))`, `tf.Variable(np.random.randn(a, b))`)."""
        value = self.weight_attrs.get(attr)
        if value is None:
            return None
        shape = _keyword(value, "shape")
        if shape is None and not (isinstance(value.func, ast.Attribute) and value.func.attr in WEIGHT_FACTORIES):
            initial = value.args[0] if value.args else _keyword(value, "initial_value")
            if isinstance(initial, ast.Call):
                shape = initial.args[0] if initial.args else _keyword(initial, "shape")
                qualname = self.imports.qualname(initial.func) or ""
                if qualname in ("numpy.random.randn", "numpy.random.rand"):
                    return len(initial.args)
        return len(shape.elts) if isinstance(shape, (ast.Tuple, ast.List)) else None

    @cached_property
    def layer_attrs(self) -> set[str]:
        return {attr for attr, values in self.attribute_values.items() if any(map(self.is_layer_creation, values))}

    @cached_property
    def tensor_attrs(self) -> set[str]:
        """Attributes holding weights or tensors made by TF ops (not layers, not config values)."""
        attrs = set(self.weight_attrs)
        for attr, values in self.attribute_values.items():
            for value in values:
                if isinstance(value, ast.Call):
                    qualname = self.imports.qualname(value.func) or ""
                    if qualname.startswith(("tensorflow.", "keras.ops.")) and qualname.rsplit(".", 1)[-1].islower():
                        attrs.add(attr)
        return attrs

    @cached_property
    def forward_method_names(self) -> list[str]:
        """`call` and every method it reaches through `self.<method>(...)`, breadth first."""
        order = [name for name in FORWARD_ENTRY_POINTS if name in self.methods]
        for name in order:
            for node in ast.walk(self.methods[name]):
                callee = self_method_called(node)
                if callee in self.methods and callee not in order:
                    order.append(callee)
        return order

    @property
    def is_preprocessing(self) -> bool:
        bases = [ast.unparse(b) for b in self.node.bases]
        return any(PREPROCESSING_NAMES.search(name) for name in [self.name, *bases])

    @cached_property
    def forward_scopes(self) -> list[TensorScope]:
        """Tensor scopes of forward methods; a helper's parameters are tensors when a caller passes tensors."""
        if self.is_preprocessing:
            return []
        seeds: dict[str, set[str]] = {}
        scopes = []
        for name in self.forward_method_names:
            method = self.methods[name]
            scope = TensorScope(method, self.imports, self, None if name in FORWARD_ENTRY_POINTS else seeds.get(name, set()))
            scopes.append(scope)
            for call in scope.calls():
                callee = self_method_called(call)
                if callee in self.methods and callee not in FORWARD_ENTRY_POINTS:
                    seeds.setdefault(callee, set()).update(tensor_arguments(call, self.methods[callee], scope))
        return scopes


def _keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def self_method_called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_self(node.func.value):
        return node.func.attr
    return None


def tensor_arguments(call: ast.Call, callee: ast.FunctionDef, scope: TensorScope) -> set[str]:
    """Names of `callee`'s parameters that receive tensors at this call site."""
    params = [a.arg for a in callee.args.posonlyargs + callee.args.args][1:]
    candidates = tensor_params(callee)
    received = {param for param, arg in zip(params, call.args) if scope.is_tensor(arg)}
    received |= {k.arg for k in call.keywords if k.arg and scope.is_tensor(k.value)}
    return received & candidates
