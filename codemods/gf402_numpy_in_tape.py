"""GF402: `.numpy()`, numpy functions or `float()` on the values a `GradientTape` block turns into its target."""

from __future__ import annotations

import ast

from gradfix.codemods._numpy_calls import (CONVERTERS, island_blocker, numpy_call_finding, numpy_calls_on_tensors,
                                           numpy_function)
from gradfix.rules import FixSafety, Rule

WHERE = "inside the GradientTape block"


class NumpyInTape(Rule):
    code = "GF402"
    name = "numpy-in-gradient-tape"
    summary = "`.numpy()`, numpy or `float()` on the way from the model's output to the tape's target"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("GradientTape",)
    explanation = """
## Why gradients stop
A tape records TensorFlow operations. `preds.numpy()`, `np.mean(...)` or `float(loss)` copy the value
out of TensorFlow: what is computed from the copy is a constant, and `tape.gradient(loss, ...)` returns
`None` for every variable behind it. Inside a `tf.function` (or `fit`'s `train_step`) the same lines fail
with `AttributeError`/`NotImplementedError`.

## What the fix does
Only values that depend on what the gradient is taken of and flow into the gradient's target are
touched; labels, shapes and logging are not.
- `t.numpy()` → `t`.
- `np.<function>(...)` → the equivalent TensorFlow op from the same mapping table GF101 uses; forms
  without an exact equivalent are reported, not rewritten.
- `float(t)`, `np.asarray(t)`, `np.array(t)` → reported: the replacement depends on the dtype you want.
When the target also depends on the model through TensorFlow ops alone, the copy may be a constant on
purpose (sample weights computed from the predictions): it is reported, not rewritten — say so with
`tf.stop_gradient`. Logging after the tape block (`print(loss.numpy())`) stays as it is.

## Example
```python
# before
with tf.GradientTape() as tape:
    preds = model(x, training=True).numpy()
    loss = np.mean(np.square(preds - y))
grads = tape.gradient(loss, model.trainable_variables)
print(float(loss))
# after
with tf.GradientTape() as tape:
    preds = model(x, training=True)
    loss = tf.reduce_mean(tf.square(preds - y))
grads = tape.gradient(loss, model.trainable_variables)
print(float(loss))
```

## Keras 3 vs Keras 2
The same in both: the tape only sees TensorFlow ops. Keras 3 models return tensors in eager mode, so
the NumPy copy is always an explicit step in your loop.
"""

    def check(self, analysis):
        reported: set[int] = set()  # a call inside nested tapes is reported once
        for tape in analysis.tapes:
            scope = tape.source_scope
            copies = [(call, lambda call=call, function=function: numpy_call_finding(
                self, analysis, scope, call, function, WHERE, tape.reaches_target))
                for call, function in numpy_calls_on_tensors(analysis, scope, tape.reaches_target)]
            copies += [(call, lambda call=call: self._check_conversion(analysis, tape, call)) for call in scope.calls()]
            maybe_intended: list[ast.AST] = []  # reported once for the outermost copy
            for call, check in sorted(copies, key=lambda c: (c[0].lineno, c[0].col_offset,
                                                             -c[0].end_lineno, -c[0].end_col_offset)):
                if id(call) in reported or not tape.reaches_target(call) or any(map(_inside(call), maybe_intended)):
                    continue
                finding = check()
                if finding is None:
                    continue
                reported.add(id(call))
                if tape.target_recorded:
                    maybe_intended.append(call)
                    finding = self._maybe_intended(analysis, call)
                yield finding

    def _maybe_intended(self, analysis, call: ast.AST):
        """The target also depends on the model through TensorFlow alone, so this copy may be a constant on
        purpose (a sample weight computed from the predictions): reported, not rewritten."""
        tf = analysis.tf_name
        return self.finding(call, f"`{_first_line(analysis.segment(call))}` {WHERE} copies a value "
                                  "of the model out of TensorFlow, so no gradient flows through it; the loss "
                                  f"has other routes, so if a constant is meant, say so with `{tf}.stop_gradient"
                                  "(...)`, else compute it with TensorFlow ops")

    def _check_conversion(self, analysis, tape, call: ast.Call):
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr == "numpy" and not call.args and not call.keywords \
                and tape.depends_on_sources(func.value):
            message = f"`.numpy()` {WHERE} copies the value out of TensorFlow: the gradient stops here"
            reason = island_blocker(analysis, tape.source_scope, call, tape.reaches_target)
            if reason:
                return self.finding(call, f"{message}; not rewritten: {reason}")
            return self.finding(call, f"{message}; use the tensor itself",
                                self.fix(analysis.replace(call, analysis.operand(func.value))))
        argument = call.args[0] if len(call.args) == 1 else None
        if argument is None or not tape.depends_on_sources(argument):
            return None
        if isinstance(func, ast.Name) and func.id == "float" and not analysis.imports.is_bound("float"):
            return self.finding(call, f"`float()` {WHERE} makes a Python number: the gradient stops here; keep the "
                                      f"tensor (`{analysis.tf_name}.cast(x, {analysis.tf_name}.float32)` if you need the dtype)")
        function = numpy_function(analysis, call)
        if function in CONVERTERS:
            return self.finding(call, f"`np.{function}()` {WHERE} makes a NumPy array: the gradient stops here; keep "
                                      f"the tensor (`{analysis.tf_name}.convert_to_tensor(x)` for lists of tensors)")
        return None


def _first_line(code: str) -> str:
    line = code.splitlines()[0]
    return line if line == code and len(line) < 60 else line[:56] + " ..."


def _inside(node: ast.AST):
    def within(outer: ast.AST) -> bool:
        return (outer.lineno, outer.col_offset) <= (node.lineno, node.col_offset) \
            and (node.end_lineno, node.end_col_offset) <= (outer.end_lineno, outer.end_col_offset)
    return within
