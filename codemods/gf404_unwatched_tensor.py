"""GF404: `tape.gradient(target, x)` with respect to a tensor the tape never watches."""

from __future__ import annotations

import ast

from gradfix.analysis.tapes import names_read
from gradfix.edits import lines_before, starts_its_line
from gradfix.rules import FixSafety, Rule, Span
from gradfix.source import Edit

# Modules whose lowercase functions make plain tensors (never variables) from their arguments.
TENSOR_MAKERS = ("tensorflow.", "tensorflow.random.", "tensorflow.math.", "tensorflow.nn.", "tensorflow.linalg.",
                 "tensorflow.image.", "tensorflow.signal.", "keras.ops.", "keras.random.")
# Makers that give integer tensors unless told otherwise: watching those would not help.
INTEGER_MAKERS = frozenset({"tensorflow.range", "tensorflow.shape", "tensorflow.size", "tensorflow.rank",
                            "tensorflow.argmax", "tensorflow.argmin", "keras.ops.arange"})
# Makers whose dtype follows the value given (`tf.constant([1, 2])` is int32).
VALUE_MAKERS = frozenset({"tensorflow.constant", "tensorflow.convert_to_tensor", "keras.ops.convert_to_tensor",
                          "keras.ops.array"})


class UnwatchedTensor(Rule):
    code = "GF404"
    name = "gradient-of-unwatched-tensor"
    summary = "gradient with respect to a plain tensor that the tape never `watch`es"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("GradientTape",)
    explanation = """
## Why gradients stop
A `GradientTape` records operations on the trainable variables it touches, and on tensors passed to
`tape.watch`. A plain tensor — `tf.constant(...)`, `tf.convert_to_tensor(images)`, `tf.random.normal(...)` —
is neither, so `tape.gradient(loss, x)` returns `None` for it (input saliency maps, adversarial examples,
gradient penalties).

## What the fix does
Inserts `tape.watch(x)` as the first statement of the tape's block, with the block's indentation and
line endings. It is only done for a name bound (before the block, and only there) to a TensorFlow call that
makes a float tensor, read inside the block and not watched yet; variables, parameters of the function
and intermediate tensors computed inside the block need no watch and are left alone.

## Example
```python
# before
x = tf.convert_to_tensor(images)
with tf.GradientTape() as tape:
    loss = loss_fn(labels, model(x))
saliency = tape.gradient(loss, x)
# after
x = tf.convert_to_tensor(images)
with tf.GradientTape() as tape:
    tape.watch(x)
    loss = loss_fn(labels, model(x))
saliency = tape.gradient(loss, x)
```

## Keras 3 vs Keras 2
The same in both: watching is a TensorFlow matter. `keras.Variable`s and `add_weight` weights are
variables and are watched automatically.
"""

    def check(self, analysis):
        for tape in analysis.tapes:
            unwatched: dict[str, ast.Call] = {}
            for request in tape.requests:
                for name in _source_names(request.sources):
                    if name not in unwatched and _is_unwatched_tensor(analysis, tape, name):
                        unwatched[name] = request.call
            if unwatched:
                yield self._finding(analysis, tape, unwatched)

    def _finding(self, analysis, tape, unwatched: dict[str, ast.Call]):
        names = ", ".join(f"`{n}`" for n in unwatched)
        first_request = next(iter(unwatched.values()))
        watches = "; ".join(f"{tape.name}.watch({n})" for n in unwatched)
        message = (f"`{analysis.segment(first_request.func)}(...)` on line {first_request.lineno} is taken with respect "
                   f"to {names}, a plain tensor this tape never watches: the gradient is None; add `{watches}`")
        edit = _watch_insertion(analysis, tape, list(unwatched))
        first = tape.body[0]  # the `with` header up to the block's first statement, where `watch` goes
        return self.finding(Span.between(tape.node, first.lineno, first.col_offset), message,
                            self.fix(edit) if edit else None)


def _source_names(sources: ast.AST | None) -> list[str]:
    if isinstance(sources, ast.Name):
        return [sources.id]
    if isinstance(sources, (ast.List, ast.Tuple)):
        return [e.id for e in sources.elts if isinstance(e, ast.Name)]
    return []


def _is_unwatched_tensor(analysis, tape, name: str) -> bool:
    """A name read in the block, never bound there, whose every binding makes a plain float tensor: a TF call,
    or an update of the same tensor (`x = x - lr * grad`) in the loop around the block."""
    if name in tape.watched_names or name in tape.names_bound_inside:
        return False
    if not any(isinstance(n, ast.Name) and n.id == name and tape.contains(n) for n in ast.walk(tape.node)):
        return False
    values = [b.value for b in tape.visible_bindings(name) if isinstance(b, (ast.Assign, ast.AnnAssign))]
    if len(values) != len(tape.visible_bindings(name)):
        return False
    made = [v for v in values if _makes_float_tensor(analysis, v)]
    updates = [v for v in values if isinstance(v, (ast.BinOp, ast.UnaryOp)) and name in names_read(v)]
    return bool(made) and len(made) + len(updates) == len(values)


def _makes_float_tensor(analysis, value: ast.AST | None) -> bool:
    if not isinstance(value, ast.Call):
        return False
    qualname = analysis.qualname(value.func) or ""
    module, _, function = qualname.rpartition(".")
    if module + "." not in TENSOR_MAKERS or not function[:1].islower() or "variable" in function.lower() \
            or qualname in INTEGER_MAKERS:
        return False
    return not (qualname in VALUE_MAKERS and _integer_literal(value))


def _integer_literal(call: ast.Call) -> bool:
    """`tf.constant([1, 2])`: an int32 tensor, which has no gradient whether watched or not."""
    if any(k.arg == "dtype" for k in call.keywords) or len(call.args) != 1:
        return False
    try:
        value = ast.literal_eval(call.args[0])
    except ValueError:
        return False
    flat = [value]
    while any(isinstance(v, (list, tuple)) for v in flat):
        flat = [x for v in flat for x in (v if isinstance(v, (list, tuple)) else [v])]
    return all(isinstance(v, (int, bool)) for v in flat)


def _watch_insertion(analysis, tape, names: list[str]) -> Edit | None:
    """`tape.watch(x)` lines before the block's first statement, in its indentation and line ending."""
    first = tape.body[0]
    if not starts_its_line(analysis.source, first):
        return None  # the statement shares its line with the `with` header
    return lines_before(analysis.source, first, [f"{tape.name}.watch({name})" for name in names])
