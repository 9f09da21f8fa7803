"""Where ops without a gradient cut weights off, read off the value-flow analysis (flow.py).

From the values that matter (a layer's output and `add_loss` terms, a tape's target, a loss, a functional
model's outputs) back through everything they are computed from — into the functions of the file that are
called on the way (helpers, methods called in a tape, `Lambda` functions) — every op without a gradient is
found. It cuts off the weights its input is computed from (comparisons and counts included) that reach none
of those values by another, differentiable route: so a straight-through estimator `x + stop_gradient(q - x)`,
a router whose softmax also reaches the output, or a codebook trained through `add_loss` is no cut.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

from gradfix.analysis.flow import argument_for, value_children
from gradfix.analysis.ops import COMPARISONS, NoGradient, lambda_layer_op, no_gradient_kind
from gradfix.analysis.values import SHAPE_ATTRS, last_name

if TYPE_CHECKING:
    from gradfix.analysis.flow import FunctionFlow


@dataclass(frozen=True)
class Cut:
    """An op without a gradient and the weights (origin labels) it cuts off; `function` is the called function
    it sits in and `via` the call that runs that function, when it is not in the flow's own function."""

    op: ast.Call
    kind: NoGradient
    lost: frozenset[str]
    function: ast.AST | None = None
    via: ast.Call | None = None


_OF_FLOATS = (NoGradient.CHOICE, NoGradient.ROUNDING, NoGradient.INTEGER_CAST)  # ops that lose a float's gradient
Frames = tuple  # ((call, caller flow), ...): the calls that led into the current function, outermost first


def find_cuts(flow: "FunctionFlow", sinks: list[ast.AST], is_weight: Callable[[str], bool] = lambda label: True,
              include: Callable[[ast.AST], bool] = lambda node: True, targets_detached: bool = True
              ) -> Iterator[Cut]:
    """Cuts on the way to `sinks` (expressions of `flow`'s function). `is_weight` keeps the origin labels that
    are weights; `include(node)` decides whether an op of the flow's own function (or the call through which a
    called function is entered) counts — a tape counts only what its block runs. With `targets_detached`, a
    `stop_gradient` beside another value is taken for a target made on purpose (not so in a compiled loss,
    whose only weights come through `y_pred`)."""
    imports = flow.program.imports
    found: dict[int, tuple[ast.Call, NoGradient, "FunctionFlow", Frames]] = {}
    stack: list[tuple[ast.AST, "FunctionFlow", Frames]] = [(sink, flow, ()) for sink in sinks]
    visited: set[tuple[int, int]] = set()
    while stack:
        node, current, frames = stack.pop()
        if (id(node), id(current)) in visited:
            continue
        visited.add((id(node), id(current)))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            for definition in current.definitions_reaching(node):
                if isinstance(definition.node, ast.arg) and frames:
                    call, caller = frames[-1]
                    argument = argument_for(current.function, call, definition.name)
                    if argument is not None:
                        stack.append((argument, caller, frames[:-1]))
                elif definition.value is not None and not isinstance(
                        definition.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    stack.append((definition.value, current, frames))
            continue
        if isinstance(node, ast.Call):
            op = lambda_layer_op(node, imports) or node
            kind = no_gradient_kind(op, imports)
            if kind is not None:
                if include(frames[0][0] if frames else node):
                    found.setdefault(id(op), (op, kind, current, frames))
                if kind is not NoGradient.STOP:  # everything behind a stop_gradient is detached on purpose
                    stack.extend((argument, current, frames) for argument in cut_inputs(op))
                continue
            callee = current.callee_of.get(id(node))
            if callee is not None:
                stack.extend((value, callee, frames + ((node, current),)) for value in callee.return_values)
                continue
            if last_name(imports.qualname(node.func) or "") in COMPARISONS:
                stack.extend((argument, current, frames) for argument in node.args)
                continue
            stack.extend((child, current, frames) for child in current.gradient_inputs(node))
            continue
        if isinstance(node, ast.Compare):
            stack.extend((child, current, frames) for child in (node.left, *node.comparators))
        elif isinstance(node, ast.Attribute) and node.attr in SHAPE_ATTRS:
            stack.append((node.value, current, frames))
        else:
            stack.extend((child, current, frames) for child in value_children(node))
    reached = frozenset(label for sink in sinks for label in flow.value(sink).origins if is_weight(label))
    for op, kind, current, frames in sorted(found.values(), key=lambda f: (f[0].lineno, f[0].col_offset)):
        if kind is NoGradient.STOP and (reached or targets_detached and _beside_another_value(current, op)):
            continue  # a stop_gradient of part of the value (a straight-through estimator), or of a target
        inputs = cut_inputs(op)
        if kind in _OF_FLOATS and inputs and all(current.value(a).is_integer for a in inputs):
            continue  # `one_hot(argmax(x))`: the input is already whole numbers, cut further up
        fed = frozenset(label for argument in inputs for label in _at_call_sites(current, argument, frames)
                        if is_weight(label))
        lost = fed - reached
        if lost:
            function = current.function if frames else None
            yield Cut(op, kind, lost, function, frames[-1][0] if frames else None)


def _at_call_sites(flow: "FunctionFlow", expr: ast.AST, frames: Frames) -> frozenset[str]:
    """What the value is computed from, in the terms of the outermost flow: a called function's flow is a
    summary whose parameters are marks (`@p`), replaced here by what each call passes."""
    labels = _computed_from(flow, expr)
    if not frames:
        return labels
    call, caller = frames[-1]
    found: set[str] = set()
    for label in labels:
        argument = argument_for(flow.function, call, label[1:]) if label.startswith("@") else None
        found |= {label} if argument is None else _at_call_sites(caller, argument, frames[:-1])
    return frozenset(found)


def _beside_another_value(flow: "FunctionFlow", op: ast.Call) -> bool:
    """Is the detached value one operand of a call or an operator whose other operand is not a constant
    (`loss(tf.stop_gradient(target), prediction)`, `q - tf.stop_gradient(v)`)? That is how targets are made."""
    parent = flow.parent(op)
    if isinstance(parent, ast.BinOp):
        others = [parent.left, parent.right]
    elif isinstance(parent, ast.Call) and op is not parent.func:
        others = [*parent.args, *(k.value for k in parent.keywords)]
    else:
        return False
    return any(other is not op and not isinstance(other, ast.Constant) for other in others)


def _computed_from(flow: "FunctionFlow", expr: ast.AST, depth: int = 0) -> frozenset[str]:
    """What the value is computed from, through Python/NumPy copies and comparisons too (`p > 0.5`)."""
    value = flow.value(expr)
    found = value.origins | value.derived
    if found or depth > 4:
        return found
    if isinstance(expr, ast.Name):
        parts = [d.value for d in flow.definitions_reaching(expr) if d.value is not None]
    elif isinstance(expr, ast.Compare):
        parts = [expr.left, *expr.comparators]
    elif isinstance(expr, (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Call)):
        parts = expr.values if isinstance(expr, ast.BoolOp) else [expr.left, expr.right] \
            if isinstance(expr, ast.BinOp) else [expr.operand] if isinstance(expr, ast.UnaryOp) else expr.args
    else:
        parts = []
    return frozenset().union(*(_computed_from(flow, part, depth + 1) for part in parts))


def cut_inputs(call: ast.Call) -> list[ast.AST]:
    """The arguments whose gradient the op drops: the tensor given to it (`inp` for py_function)."""
    keywords = {k.arg: k.value for k in call.keywords}
    if "inp" in keywords:
        return [keywords["inp"]]
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name in ("py_function", "numpy_function", "py_func"):
        return list(call.args[1:2])
    first = keywords.get("x") or keywords.get("input") or keywords.get("indices")
    return list(call.args[:1]) or ([first] if first is not None else [])
