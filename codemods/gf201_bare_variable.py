"""GF201: a weight created as a bare `tf.Variable` attribute of a Keras Layer/Model."""

from __future__ import annotations

import ast

from gradfix.codemods._variables import (could_be_trained, is_variable_call, keras_namespace, layer_classes,
                                         layer_weight_rewrite, may_be_keras_2, self_attribute, stores_on_self,
                                         walk_function)
from gradfix.rules import FixSafety, Rule


class BareVariable(Rule):
    code = "GF201"
    name = "bare-tf-variable"
    summary = "weight created as a bare `tf.Variable` attribute of a Layer/Model (Keras 3 does not track it)"
    fix_safety = FixSafety.SAFE
    severity = "error"
    triggers = ("Variable",)
    outside_keras_classes = ()
    explanation = """
## Why gradients stop
Keras 3 (the default `tf.keras` since TensorFlow 2.16) only tracks weights made with `self.add_weight`
or `keras.Variable`. A `tf.Variable` stored on a layer is invisible to it: it is missing from
`model.trainable_variables`, so `fit` (and any loop that asks the model for its variables) never
updates it, `fit` may warn that the model "does not have any trainable weights", and
`model.save(...)`/`save_weights` silently leave it out. Nothing raises; the weight just keeps its
initial value.

## What the fix does
Rewrites the assignment (in `__init__`, `build` or a helper only they call) to
`self.add_weight(...)`, carrying over `trainable`, `name`, `dtype` and `constraint`, and turning the
initial value into an initializer:
- `tf.zeros(shape)` / `tf.ones(shape)` → `initializer="zeros"` / `"ones"`;
- `tf.random.normal/uniform/truncated_normal(shape, ...)` → `RandomNormal`/`RandomUniform`/`TruncatedNormal`
  with the same mean/stddev/minval/maxval/seed (written out: Keras's own defaults differ);
- `init(shape=...)` where `init` is an initializer object → `initializer=init`;
- a Python/NumPy scalar → `shape=()` and `Constant(value)` (an int stays int32, as `tf.Variable(0)` is);
- `np.random.randn(...)` and friends → `Constant(...)` of the same array, keeping its dtype: NumPy
  arrays are float64, and so was the variable;
- anything else → the value is computed once with `tf.convert_to_tensor` (what `tf.Variable` does)
  and the weight takes its shape, dtype and values.
A `tf.Variable(..., trainable=False)` that the code later switches on (`layer.v.trainable = True`) is
rewritten too: `trainable` is read-only on a `tf.Variable` (AttributeError). It becomes a trainable
`self.add_weight(...)` followed by `self.v.trainable = False`: a Keras 3 weight's flag can be switched,
but one *created* with `trainable=False` wraps a tf.Variable that `GradientTape` never watches, so it
would get a None gradient even after `.trainable = True` (measured, Keras 3.15). `add_weight` works in `__init__` when the
shape is known there. Variables created in other methods are
reported only: Keras 3 locks a layer's state once it is built.

## Example
```python
# before
def build(self, input_shape):
    self.w = tf.Variable(tf.random.normal((input_shape[-1], self.units)), name="w")
    self.b = tf.Variable(tf.zeros((self.units,)))
# after
def build(self, input_shape):
    self.w = self.add_weight(
        shape=(input_shape[-1], self.units),
        initializer=tf.keras.initializers.RandomNormal(stddev=1.0),
        name="w",
    )
    self.b = self.add_weight(shape=(self.units,), initializer="zeros")
```

## Keras 3 vs Keras 2
tf_keras (Keras 2) tracks bare `tf.Variable` attributes, so the same code trains there and breaks
silently after upgrading to Keras 3. Files that import `tf_keras` are left alone; `add_weight` is
correct in both versions.
"""

    def check(self, analysis):
        if may_be_keras_2(analysis):
            return
        for keras_class in layer_classes(analysis):
            if "__call__" in keras_class.methods:
                continue  # used like a tf.Module, bypassing Keras: tf.saved_model and Checkpoint track its variables
            forward = set(keras_class.forward_method_names)
            creators = keras_class.state_creating_methods
            keras = keras_namespace(analysis, keras_class.node)
            for method_name, method in keras_class.methods.items():
                if method_name in forward:
                    continue  # GF202's business
                place = f"{keras_class.name}.{method_name}"
                for statement in walk_function(method):
                    if not isinstance(statement, (ast.Assign, ast.AnnAssign, ast.Expr)) or statement.value is None:
                        continue
                    if _is_attribute_assignment(analysis, statement):
                        if statement.targets[0].attr in _state_variables(keras_class):
                            continue
                        yield self._attribute_finding(analysis, statement, method_name, keras_class, creators, keras,
                                                      place)
                    else:
                        yield from self._other_stores(analysis, statement, place)

    def _attribute_finding(self, analysis, statement, method_name, keras_class, creators, keras, place):
        attribute = analysis.segment(statement.targets[0])
        message = (f"`{attribute}` is a bare tf.Variable ({place}): Keras 3 does not track it, so it is not in "
                   "`trainable_variables`, `fit` never trains it and `save` drops it; use `self.add_weight(...)`")
        switch = _switched_on(analysis, statement.targets[0].attr)
        switched_on_later = switch is not None and not could_be_trained(analysis, statement.value)
        if switched_on_later:
            message = (f"`{attribute}` is a tf.Variable made with trainable=False ({place}) and switched on later "
                       f"(line {switch.lineno}), but a tf.Variable's `trainable` is read-only (AttributeError) and "
                       "Keras 3 does not track it; create it with `self.add_weight(...)` and then set "
                       f"`{attribute}.trainable = False`: a Keras weight's `trainable` can be switched")
        rewrite = layer_weight_rewrite(analysis, keras_class, statement, method_name, creators, keras,
                                       switched_on_later)
        if rewrite.text is None:
            return self.finding(statement, f"{message}; not rewritten: {rewrite.reason}")
        note = f" (note: {rewrite.note})" if rewrite.note else ""
        return self.finding(statement, message + note, self.fix(
            analysis.replace(statement, rewrite.text), needs_tensorflow_import=rewrite.needs_tensorflow_import))

    def _other_stores(self, analysis, statement, place):
        """`self.ws = [tf.Variable(...) ...]`, `self.ws.append(tf.Variable(...))`, `self.w, self.b = ...`."""
        if not stores_on_self(statement):
            return
        for node in ast.walk(statement.value):
            if is_variable_call(analysis, node) and could_be_trained(analysis, node):
                yield self.finding(node, f"tf.Variable stored on the layer ({place}): Keras 3 does not track bare "
                                         "tf.Variables, so it is not trained or saved; create each weight with "
                                         "`self.add_weight(...)` in `build`")


def _is_attribute_assignment(analysis, statement) -> bool:
    return isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
        and self_attribute(statement.targets[0]) is not None and is_variable_call(analysis, statement.value) \
        and (could_be_trained(analysis, statement.value) or _switched_on(analysis, statement.targets[0].attr))


def _state_variables(keras_class) -> set[str]:
    """Attributes the class updates itself with `self.x.assign(...)` (`assign_add`, `assign_sub`) and that its
    forward pass never reads: step counters, flags, accumulators. No gradient can reach them, so nothing is
    lost to training when Keras 3 does not track them. A variable read by `call` and also assigned (a clipped or
    loaded weight) may be trained, and stays reported."""
    assigned, read_forward = set(), set()
    forward = set(keras_class.forward_method_names)
    for name, method in keras_class.methods.items():
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in ("assign", "assign_add", "assign_sub") \
                    and self_attribute(node.func.value) is not None:
                assigned.add(node.func.value.attr)
            elif name in forward and self_attribute(node) is not None and isinstance(node.ctx, ast.Load):
                read_forward.add(node.attr)
    return assigned - read_forward


def _switched_on(analysis, attribute: str) -> ast.Assign | None:
    """`<anything>.<attribute>.trainable = <not False>` in the file: a frozen variable meant to train later."""
    if ".trainable" not in analysis.source.text:
        return None
    for node in ast.walk(analysis.tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "trainable" and isinstance(t.value, ast.Attribute)
                and t.value.attr == attribute for t in node.targets) \
                and not (isinstance(node.value, ast.Constant) and node.value.value is False):
            return node
    return None

