"""Where the gradient path is cut. While a tape records, `CutRecorder` writes down, with the user's line, every
conversion of a floating tensor or variable to NumPy (`np.*` called on one, `.numpy()`, `__array__`, `float()`)
and every op without a gradient applied to one (`tf.round`, `tf.argmax`, casts to int or bool, comparisons,
`tf.stop_gradient`, ...). `first_cuts` then asks the (persistent) tape which weights reach each of those points:
the first point a weight reaches is where its path was cut.

The patches are in place only while a recorder is active: outside, NumPy and TensorFlow run untouched.

Imports TensorFlow: load it only in the verify child."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Callable

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import op_callbacks, ops

from .frames import caller_location, is_user_file  # relative: the child's modules run without gradfix installed
from .report import CutSite

# ops that read a tensor's shape or guard values: no gradient, but the weight's value never mattered there
_HARMLESS_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "IsFinite", "IsInf", "IsNan", "CheckNumerics",
                           "Assert", "BroadcastArgs", "BroadcastGradientArgs", "VarIsInitializedOp"})
_TENSOR_METHODS = {"numpy": ".numpy() on a tensor", "__array__": "conversion of a tensor to NumPy",
                   "__float__": "float() on a tensor", "__int__": "int() on a tensor",
                   "__index__": "use of a tensor as an index"}
_OP_FRONTENDS = tuple(os.path.join(os.path.dirname(os.path.dirname(tf.__file__)), *part) for part in (
    ("tensorflow", ""), ("keras", "src", "ops", ""), ("keras", "src", "backend", ""),
    ("tf_keras", "src", "backend.py")))
MAX_EVENTS = 64  # cut points examined per forward pass: each costs one backward pass


@dataclass
class CutEvent:
    site: CutSite
    tensors: list[Any] = field(default_factory=list)  # the floating tensors and variables cut off there


class CutRecorder:
    """A context manager; re-entrant (nested tapes share the outermost recording)."""

    def __init__(self) -> None:
        self.events: list[CutEvent] = []
        self._depth = 0
        self._restore: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> CutRecorder:
        if self._depth == 0:
            self._patch()
        self._depth += 1
        return self

    def __exit__(self, *exc_info) -> None:
        if self._depth == 0:  # closed already (a tape stops recording at its gradient call, then exits)
            return
        self._depth -= 1
        if self._depth == 0:
            self._unpatch()

    def record(self, what: str, values: Any) -> None:
        if self._depth == 0 or len(self.events) >= MAX_EVENTS:  # a wrapper kept past the recording is inert
            return
        tensors = [x for x in tf.nest.flatten(values) if is_floating_tensor(x)]
        if not tensors:
            return
        where = caller_location(sys._getframe(1))
        if where is not None:  # library-internal conversions (no user line on the stack) are not the user's cut
            self.events.append(CutEvent(CutSite(where, what), tensors))

    def _patch(self) -> None:
        for name, value in list(vars(np).items()):
            if not name.startswith("_") and callable(value) and not isinstance(value, type):
                self._replace(np, name, _RecordedNumpy(self, name, value))
        tensor_class = ops._EagerTensorBase
        for method, what in _TENSOR_METHODS.items():
            self._replace(tensor_class, method, _recorded_method(self, getattr(tensor_class, method), what))
        op_callbacks.add_op_callback(self._op_callback)

    def _unpatch(self) -> None:
        op_callbacks.remove_op_callback(self._op_callback)
        for owner, name, value in reversed(self._restore):
            setattr(owner, name, value)
        self._restore.clear()

    def _replace(self, owner: Any, name: str, replacement: Any) -> None:
        self._restore.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    def _op_callback(self, op_type, inputs, attrs, outputs, op_name=None, graph=None):
        if op_type in _HARMLESS_OPS or not outputs:  # no outputs: assignments (batch-norm statistics, counters)
            return None
        floating = [x for x in inputs if x.dtype.is_floating]
        if floating and _cuts_gradient(op_type, outputs) and _called_by_user(sys._getframe(1)):
            produces = outputs[0].dtype.name
            what = f"{op_type} (no gradient)" if outputs[0].dtype.is_floating else f"{op_type} → {produces}"
            self.record(f"TensorFlow op {what}", floating)
        return None


def _called_by_user(frame: FrameType | None) -> bool:
    """The op was asked for by user code (through TensorFlow's or Keras' op functions), not by a library's
    implementation: `tf.nn.moments` stops gradients to its shift on purpose, that is no cut."""
    while frame is not None and frame.f_code.co_filename.startswith(_OP_FRONTENDS):
        frame = frame.f_back
    return frame is not None and is_user_file(frame.f_code.co_filename)


class _RecordedNumpy:
    """A NumPy function or ufunc that notes tensor arguments, then runs as it would."""

    def __init__(self, recorder: CutRecorder, name: str, function: Any) -> None:
        self._recorder, self._name, self._function = recorder, name, function

    def __call__(self, *args, **kwargs):
        self._recorder.record(f"np.{self._name} on a tensor", _tensor_arguments(args, kwargs))
        return self._function(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # np.add.reduce, np.dot.__name__ ...
        return getattr(self._function, name)


def _recorded_method(recorder: CutRecorder, method: Any, what: str) -> Any:
    def recorded(tensor, *args, **kwargs):
        recorder.record(what, tensor)
        return method(tensor, *args, **kwargs)

    return recorded


def _tensor_arguments(args: tuple, kwargs: dict) -> list[Any]:
    """Tensors among the arguments, also inside lists and tuples (np.concatenate([a, b]))."""
    found = []
    for value in (*args, *kwargs.values()):
        if isinstance(value, (list, tuple)):
            found += [item for item in value if _is_tensor(item)]
        elif _is_tensor(value):
            found.append(value)
    return found


def _is_tensor(value: Any) -> bool:
    return isinstance(value, tf.Tensor) or is_variable(value)


def is_variable(value: Any) -> bool:
    """A tf.Variable or a Keras 3 variable (whichever Keras is loaded; never imports one)."""
    keras = sys.modules.get("keras")
    return isinstance(value, tf.Variable) or (keras is not None and isinstance(value, getattr(keras, "Variable", ())))


def tape_source(variable: Any) -> Any:
    """What a tape watches for a variable: Keras 3 variables wrap a tf.Variable."""
    return variable.value if is_variable(variable) and not isinstance(variable, tf.Variable) else variable


def is_floating_tensor(value: Any) -> bool:
    try:
        return _is_tensor(value) and tf.as_dtype(value.dtype).is_floating
    except TypeError:
        return False


def _cuts_gradient(op_type: str, outputs: list[Any]) -> bool:
    if not any(x.dtype.is_floating for x in outputs):  # argmax, casts to int/bool, comparisons; not datasets
        return all(x.dtype.is_integer or x.dtype.is_bool for x in outputs)
    try:
        gradient = ops.gradient_registry.lookup(op_type)
    except LookupError:  # function calls; an op truly without gradient raises at tape.gradient, it is not None
        return False
    return gradient is None or op_type in ("Round", "Floor", "Ceil", "Rint")  # their gradient functions give None


def first_cuts(tape: tf.GradientTape, events: list[CutEvent], sources: list[Any],
               gradient: Callable | None = None) -> dict[int, CutSite]:
    """For each source (by index): the first cut point that a path from it reaches. `tape` must be persistent
    and have recorded the forward pass in which the events happened; `gradient` is GradientTape.gradient
    unpatched, when the verify child has patched it."""
    gradient = gradient or type(tape).gradient
    found: dict[int, CutSite] = {}
    position = {id(source): index for index, source in enumerate(sources)}
    for event in list(events):  # a tape still recording adds the gradient's own ops
        reached = set()
        tensors = []
        for value in event.tensors:
            if id(tape_source(value)) in position:
                reached.add(position[id(tape_source(value))])
            elif isinstance(value, tf.Tensor) and not is_variable(value):
                tensors.append(value)
        if tensors:
            try:
                gradients = gradient(tape, tensors, sources)
            except Exception:  # symbolic tensors of a traced function, ops without gradient: not reachable here
                gradients = []
            reached |= {index for index, gradient in enumerate(gradients) if gradient is not None}
        for index in reached:
            found.setdefault(index, event.site)
    return found
