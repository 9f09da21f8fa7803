"""GF102: tensors turned into NumPy/Python values (`.numpy()`, `np.asarray`, `K.eval`, `float()`) on the
forward path."""

from __future__ import annotations

import ast

from gradfix.codemods._numpy_calls import CONVERTERS, KERAS_EVALUATORS, island_blocker, numpy_function, op_namespaces, where
from gradfix.rules import FixSafety, Rule



class TensorToNumpy(Rule):
    code = "GF102"
    name = "tensor-to-numpy"
    summary = "`.numpy()`, `np.asarray`/`np.array`, `K.eval`/`K.get_value` or `float()` on a tensor in `call`"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("numpy", "float(", "int(", "eval(", "get_value(")
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
`.numpy()`, `np.asarray(t)`, `K.eval(t)` and `float(t)` copy a tensor's current value out of
TensorFlow. Whatever is computed from that copy is a constant to `tf.GradientTape`: the weights that
produced the tensor get no gradient. In graph mode (`fit`, `tf.function`) `.numpy()` raises
`AttributeError` and `np.asarray` raises `NotImplementedError`.

## What the fix does
- `t.numpy()`, `K.eval(t)`, `K.get_value(t)` → `t` (the value was a tensor already).
- `np.asarray(t)` / `np.array(t)` → `tf.convert_to_tensor(t)`; with `dtype=np.float32` →
  `tf.cast(t, tf.float32)`. Other arguments (`copy=`, `order=`) → reported, not rewritten. A Keras 3
  file that does not import TensorFlow gets `keras.ops.convert_to_tensor(t)` / `keras.ops.cast(t,
  "float32")` and no `import tensorflow`.
- `float(t)` whose result takes part in arithmetic → reported only: the TF replacement depends on the
  dtype you want (`tf.cast(t, tf.float32)`). `int(t)`/`bool(t)` (shapes, control flow) and values
  looped over in Python (`for token in ids.numpy()`) are deliberate and left alone.

## Example
```python
# before
outputs = np.dot(inputs, self.w.numpy()) + self.b.numpy()
# after (together with GF101)
outputs = tf.tensordot(inputs, self.w, axes=1) + self.b
```

## Keras 3 vs Keras 2
Both lose the gradient; tf_keras converts the array back silently, Keras 3 often returns an ndarray
from the layer.
"""

    def check(self, analysis):
        for scope in analysis.forward_scopes:
            for call in scope.calls():
                finding = self._check_call(analysis, scope, call)
                if finding:
                    yield finding

    def _check_call(self, analysis, scope, call: ast.Call):
        func = call.func
        if not _may_copy(analysis, call) or not scope.reaches_output(call):
            return None  # a copy for logging, sampling or Python control flow: off the gradient path
        place = where(scope)
        if isinstance(func, ast.Attribute) and func.attr == "numpy" and not call.args and not call.keywords \
                and scope.is_tensor(func.value) and not scope.is_iterated(call):
            return self._dropped(analysis, scope, call, func.value,
                                 f"`.numpy()` on a tensor {place} cuts it out of the gradient tape")
        if analysis.qualname(func) in KERAS_EVALUATORS and len(call.args) == 1 and scope.is_tensor(call.args[0]):
            message = f"`{analysis.segment(func)}()` on a tensor {place} returns a NumPy value: gradients stop here"
            return self._dropped(analysis, scope, call, call.args[0], message)
        if isinstance(func, ast.Name) and func.id == "float" and len(call.args) == 1 \
                and scope.is_tensor(call.args[0]) and not analysis.imports.is_bound(func.id) \
                and scope.is_used_in_arithmetic(call):
            return self.finding(call, f"`float()` on a tensor {place} makes a Python constant of a value used in "
                                      f"arithmetic: gradients stop here; keep it a tensor "
                                      f"(e.g. `{analysis.tf_name}.cast(x, {analysis.tf_name}.float32)`)")
        function = numpy_function(analysis, call)
        if function in CONVERTERS and call.args and scope.is_tensor(call.args[0]):
            return self._converter_finding(analysis, scope, call, function, place)
        return None

    def _dropped(self, analysis, scope, call: ast.Call, tensor: ast.AST, message: str):
        """The copy replaced by the tensor itself, when everything the copy flows into takes a tensor."""
        reason = island_blocker(analysis, scope, call, scope.reaches_output)
        if reason:
            return self.finding(call, f"{message}; not rewritten: {reason}")
        return self.finding(call, f"{message}; use the tensor itself",
                            self.fix(analysis.replace(call, analysis.operand(tensor))))

    def _converter_finding(self, analysis, scope, call: ast.Call, function: str, place: str):
        message = f"np.{function}() on a tensor {place} returns a NumPy array: gradients stop here"
        tf = analysis.tf_name
        dtype = next((k.value for k in call.keywords if k.arg == "dtype"), call.args[1] if len(call.args) == 2 else None)
        other_arguments = len(call.args) > 2 or any(k.arg != "dtype" for k in call.keywords)
        dtype_name = (analysis.qualname(dtype) or "") if dtype is not None else ""
        if other_arguments or (dtype is not None and not dtype_name.startswith("numpy.")):
            return self.finding(call, f"{message}; not rewritten: arguments without an exact TF equivalent")
        value = analysis.segment(call.args[0])
        tensorflow, keras_ops = op_namespaces(analysis)  # a Keras 3 file without TensorFlow: keras.ops
        if tensorflow is None and keras_ops is None:
            return self.finding(call, f"{message}; not rewritten: the file uses neither TensorFlow nor keras.ops")
        if dtype is None:
            replacement = f"{tf if tensorflow else keras_ops}.convert_to_tensor({value})"
        elif tensorflow:
            replacement = f"{tf}.cast({value}, {tf}.{dtype_name[len('numpy.'):]})"
        else:
            replacement = f'{keras_ops}.cast({value}, "{dtype_name[len("numpy."):]}")'
        reason = island_blocker(analysis, scope, call, scope.reaches_output)
        if reason:
            return self.finding(call, f"{message}; not rewritten: {reason}")
        fix = self.fix(analysis.replace(call, replacement),
                       needs_tensorflow_import=tensorflow is not None and not analysis.tensorflow_imported)
        return self.finding(call, f"{message}; use `{replacement}`", fix)


def _may_copy(analysis, call: ast.Call) -> bool:
    """Could the call be one `_check_call` reports (`.numpy()`, a Keras evaluator, `float()`, a numpy converter)?
    Asked first: following every call of the forward path to the output is what costs."""
    func = call.func
    return (isinstance(func, ast.Attribute) and func.attr == "numpy") \
        or (isinstance(func, ast.Name) and func.id == "float") \
        or analysis.qualname(func) in KERAS_EVALUATORS or numpy_function(analysis, call) in CONVERTERS
