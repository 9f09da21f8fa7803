"""`TensorScope`: the questions rules ask about one function — which expressions hold tensors on the gradient
path (DESIGN.md §2), their ranks, which calls to look at — answered by the one value-flow analysis
(gradfix/analysis/flow.py). A "tensor" here is a value that carries gradient from trainable weights or the
function's tensor inputs, including a NumPy copy of one (so a chain of numpy calls is followed). Shapes,
dtypes, config attributes, literals and NumPy constants are not; unknown callables give unknown values,
which are not tensors: when unsure, we stay silent rather than rewrite correct code.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Iterable

from gradfix.analysis.flow import FLAG_PARAMS, is_self, tensor_params  # noqa: F401 - re-exported
from gradfix.analysis.values import SHAPE_ATTRS, TENSOR_CLASSES, Kind, Value  # noqa: F401 - re-exported

if TYPE_CHECKING:
    from gradfix.analysis.classes import KerasClass
    from gradfix.analysis.imports import ImportMap
    from gradfix.analysis.program import FlowView

__all__ = ["FLAG_PARAMS", "SHAPE_ATTRS", "TENSOR_CLASSES", "TensorScope", "assigned_names", "is_self",
           "is_super_call", "tensor_params"]


def is_super_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"


def assigned_names(target: ast.AST) -> Iterable[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from assigned_names(element)
    elif isinstance(target, ast.Starred):
        yield from assigned_names(target.value)


class TensorScope:
    """One function seen through the value-flow analysis. Built by `FileAnalysis.forward_scopes` (the view of a
    forward-path method, joined over its calling contexts), or directly for any function: then every non-flag
    parameter is a tensor on the gradient path (pass `seeds=` to choose which). With `through_unknown_calls`, a
    value computed by a function the analysis does not know from a tensor counts too (a tape's loss function)."""

    def __init__(self, function: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, imports: "ImportMap",
                 keras_class: "KerasClass | None" = None, seeds: set[str] | None = None,
                 view: "FlowView | None" = None, through_unknown_calls: bool = False):
        self.function = function
        self.through_unknown_calls = through_unknown_calls
        self.imports = imports
        self.keras_class = keras_class
        if view is None:
            from gradfix.analysis.program import ValueAnalysis, _views, _with_callees, entry_parameters
            program = ValueAnalysis(ast.Module(body=[], type_ignores=[]), imports, None)
            params = entry_parameters(function)
            if seeds is not None:
                params = {name: value if name in seeds else Value() for name, value in params.items()}
                params.update({name: Value(Kind.GRADIENT, origins=frozenset({name})) for name in seeds})
            flows = [f for f in _with_callees(program.entry(function, keras_class, params=params))]
            view = next(v for v in _views(flows, keras_class) if v.function is function)
        self.view = view

    def value(self, node: ast.AST) -> Value:
        """What the expression holds at its point (kind, dtype, rank, origins)."""
        return self.view.value(node)

    def is_tensor(self, node: ast.AST) -> bool:
        value = self.value(node)
        return value.may_carry_gradient if self.through_unknown_calls else value.carries_gradient

    def calls(self) -> list[ast.Call]:
        """Calls of the function, except those in branches that dispatch on the kind of value/backend."""
        return self.view.calls()

    def parent(self, node: ast.AST) -> ast.AST | None:
        flow = self.view.flow_of(node)
        return flow.parent(node) if flow else None

    def is_iterated(self, node: ast.AST) -> bool:
        """Is the value looped over in Python (`for x in t.numpy()`): element-wise Python processing."""
        return any(use.role == "iterate" for use in self.view.uses(node))

    def is_used_in_arithmetic(self, node: ast.AST) -> bool:
        """Does the value take part in arithmetic, directly or through the name it is assigned to?"""
        return any(use.role == "operator" for use in self.view.uses(node))

    def reaches_output(self, node: ast.AST) -> bool:
        """Does the value flow into what the function returns (or `self.add_loss`)?"""
        return self.view.reaches_output(node)

    def uses(self, node: ast.AST):
        return self.view.uses(node)

    def rank_of(self, node: ast.AST) -> int | None:
        """Static rank when the analysis knows it (weights with their shape, literals, op results)."""
        return self.value(node).rank

    def any_tensor_argument(self, call: ast.Call) -> bool:
        return any(self.is_tensor(a) for a in call.args) or any(self.is_tensor(k.value) for k in call.keywords)
