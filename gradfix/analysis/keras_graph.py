"""Models assembled from layers outside any class: `Sequential([...])` (and `model.add(...)`), and functional
models `Model(inputs, outputs)` wired from layer calls in a function or the module. Which expressions hold
Keras layers or models (with weights), what to call them in a message, and whether the file trains a model
(`compile`, `fit`, `train_on_batch`) — a model built only for inference or export has nothing to lose."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator

from gradfix.analysis.flow import dotted, keyword_argument
from gradfix.analysis.keras import KerasKind
from gradfix.analysis.ops import layer_label
from gradfix.analysis.statements import class_of_methods, scoped_statements

MODEL_CLASSES = frozenset({"keras.Model", "keras.models.Model", "keras.Functional", "keras.models.Functional",
                           "keras.engine.training.Model", "keras.engine.functional.Functional"})
SEQUENTIAL_CLASSES = frozenset({"keras.Sequential", "keras.models.Sequential"})
TRAINING_METHODS = frozenset({"compile", "fit", "train_on_batch", "fit_generator"})
MODEL_FACTORIES = re.compile(r"^keras\.(applications\.|models\.load_model$|saving\.load_model$)")
# Layers that hold no trainable weights: no gradient of theirs can be lost.
WEIGHTLESS_LAYERS = re.compile(
    r"^(Input|InputLayer|Lambda|Activation|Dropout|SpatialDropout\dD|AlphaDropout|GaussianNoise|GaussianDropout|"
    r"Flatten|Reshape|Permute|RepeatVector|Concatenate|Add|Subtract|Multiply|Average|Maximum|Minimum|Dot|"
    r"\w*Pooling\dD|ZeroPadding\dD|Cropping\dD|UpSampling\dD|Softmax|ReLU|LeakyReLU|ELU|ThresholdedReLU|"
    r"Masking|Rescaling|Resizing|CenterCrop|Identity|TFOpLambda)$")


@dataclass
class AssembledModel:
    """A Sequential or functional model built in `scope`: `layers` in order (Sequential) or `outputs`."""

    call: ast.Call
    scope: ast.AST
    names: list[str]  # what it is bound to (`model`, `self.combined`)
    trained: bool
    layers: list[ast.AST] | None = None
    outputs: ast.AST | None = None


class KerasGraphs:
    def __init__(self, tree: ast.Module, imports, index, values):
        self.tree = tree
        self.imports = imports
        self.index = index
        self.values = values  # the file's ValueAnalysis

    @cached_property
    def _class_of(self) -> dict[int, ast.ClassDef]:
        return class_of_methods(self.tree)

    def function_called(self, call: ast.Call, scope: ast.AST) -> ast.AST | None:
        """The function of this file that `f(...)` or `self.f(...)` runs."""
        func = call.func
        if isinstance(func, ast.Name):
            return self.values.module_functions.get(func.id)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            cls = self._class_of.get(id(scope))
            return next((s for s in cls.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and s.name == func.attr), None) if cls is not None else None
        return None

    @cached_property
    def _statements(self) -> list[tuple[ast.stmt, ast.AST]]:
        """(statement, the function or module it runs in) for every statement of the file."""
        return [(statement, scope) for statement, scope, _ in scoped_statements(self.tree)]

    @cached_property
    def _calls(self) -> list[tuple[ast.Call, ast.stmt, ast.AST]]:
        """(call, statement, scope) for every statement whose value is a call: `m = Model(...)`, `m.fit(...)`."""
        return [(statement.value, statement, scope) for statement, scope in self._statements
                if isinstance(statement, (ast.Expr, ast.Assign, ast.AnnAssign, ast.Return))
                and isinstance(statement.value, ast.Call)]

    @cached_property
    def trained_names(self) -> set[str]:
        return {dotted(call.func.value) for call, _, _ in self._calls if isinstance(call.func, ast.Attribute)
                and call.func.attr in TRAINING_METHODS and dotted(call.func.value)}

    def models(self) -> Iterator[AssembledModel]:
        for call, statement, scope in self._calls:
            qualname = self.imports.qualname(call.func)
            if qualname in SEQUENTIAL_CLASSES:
                names = self.names_bound_to(statement, scope)
                listed = call.args[0] if call.args else keyword_argument(call, "layers")
                layers = list(listed.elts) if isinstance(listed, (ast.List, ast.Tuple)) else []
                layers += [c.args[0] for c, _, s in self._calls if s is scope and isinstance(c.func, ast.Attribute)
                           and c.func.attr == "add" and c.args and dotted(c.func.value) in names]
                yield AssembledModel(call, scope, names, bool(set(names) & self.trained_names), layers=layers)
            elif qualname in MODEL_CLASSES:
                outputs = call.args[1] if len(call.args) > 1 else keyword_argument(call, "outputs")
                if outputs is not None:
                    names = self.names_bound_to(statement, scope)
                    yield AssembledModel(call, scope, names, bool(set(names) & self.trained_names), outputs=outputs)

    def names_bound_to(self, statement: ast.stmt, scope: ast.AST) -> list[str]:
        """`model` for `model = Sequential(...)`; for `return Model(...)` in `build()`, the names bound to
        `build()`'s result (`self.combined = self.build_combined()`)."""
        if isinstance(statement, ast.Assign):
            return [dotted(t) for t in statement.targets if dotted(t)]
        if isinstance(statement, ast.Return) and isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return [dotted(t) for call, other, _ in self._calls if isinstance(other, ast.Assign)
                    and _last_name(call.func) == scope.name for t in other.targets if dotted(t)]
        return []

    # --- what an expression holds ----------------------------------------------------------------------
    def layer_with_weights(self, expr: ast.AST, scope: ast.AST, depth: int = 0) -> bool:
        """Does the expression hold a Keras layer or model that can have trainable weights?"""
        if depth > 3:
            return False
        if isinstance(expr, ast.Call):
            qualname = self.imports.qualname(expr.func) or _last_name(expr.func)
            if qualname and MODEL_FACTORIES.match(qualname):
                return True
            if self.index.kind_of_base(qualname) in (KerasKind.LAYER, KerasKind.MODEL):
                return not WEIGHTLESS_LAYERS.match(qualname.rsplit(".", 1)[-1])
            function = self.function_called(expr, scope)
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return any(self.layer_with_weights(n.value, function, depth + 1) for n, where in self._statements
                           if where is function and isinstance(n, ast.Return) and n.value is not None)
            return False
        name = dotted(expr)
        if name is None:
            return False
        return any(self.layer_with_weights(value, where, depth + 1) for value, where in self._values_of(name, scope))

    def _values_of(self, name: str, scope: ast.AST) -> Iterator[tuple[ast.AST, ast.AST]]:
        """The values assigned to `name`: a plain name in the scope, else in the module; `self.x` anywhere."""
        assigned = [(statement.value, where) for statement, where in self._statements
                    if isinstance(statement, ast.Assign) and any(dotted(t) == name for t in statement.targets)]
        if "." in name:
            yield from assigned
            return
        local = [(value, where) for value, where in assigned if where is scope]
        yield from local or [(value, where) for value, where in assigned if where is self.tree]

    def label_of(self, layer: ast.AST) -> str:
        """The origin label of a layer written in a list (`Dense(4, name="a")`, `encoder`)."""
        return layer_label(layer)

    def weighted_label(self, label: str, scope: ast.AST) -> bool:
        """Does an origin label of the flow (`generator`, `Dense:12`, `selector`) stand for a layer with
        weights? Unnamed constructor calls by their class; names by what they are bound to."""
        if ":" in label:
            return not WEIGHTLESS_LAYERS.match(label.split(":")[0])
        node = ast.parse(label, mode="eval").body if re.match(r"^[A-Za-z_][\w.]*$", label) else None
        if node is not None and self.layer_with_weights(node, scope):
            return True
        return any(layer_label(call.func) == label and self.layer_with_weights(call.func, where)
                   for call, _, where in self._calls if isinstance(call.func, ast.Call))


def describe_label(label: str) -> str:
    """How a message names a layer given its origin label: `name`, or the class and line of an unnamed one."""
    if ":" in label:
        name, line = label.split(":")
        return f"the `{name}` layer of line {line}"
    return f"`{label}`"


def _last_name(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
