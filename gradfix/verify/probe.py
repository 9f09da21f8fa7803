"""Probe a model under tf.GradientTape. Every variable reachable from the model is found by walking its object
graph (also those Keras does not track: bare tf.Variable attributes under Keras 3, plain holder objects) and
reported with whether Keras tracks it, whether it is meant to train and whether it gets a gradient.

Imports TensorFlow: load it only in the verify child or from `check_gradients`."""

from __future__ import annotations

import functools
import math
import sys
import types
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from .cuts import CutRecorder, first_cuts, tape_source
from .frames import describe_exception, is_user_file, location
from .report import (GRADIENT_NONE, GRADIENT_OK, GRADIENT_UNKNOWN, GRADIENT_ZERO, MAX_DIGEST_VALUES, CutSite,
                     GradientReport, OutputDigest, VariableStatus, variable_name)

_MAX_OBJECTS = 200_000  # bounds the object-graph walk on models that hold large data structures
_UNKNOWN_DIMENSION = 2  # size given to unknown (batch) dimensions of inputs built from a tf.function signature


class CannotSynthesize(Exception):
    pass


@dataclass
class Discovery:
    variables: list[tuple[str, Any]]  # (attribute path, variable): breadth-first
    layers: list[Any]  # every Keras layer reached, the model included


@dataclass
class Labels:
    """The targets of a training step (`fit`, `train_on_batch`): with them the probe's loss is the compiled one."""

    y: Any
    sample_weight: Any = None


def probe(model: Any, args: tuple, kwargs: dict, loss_fn: Callable | None = None, *,
          inputs: str = "inputs given", synthesized: bool = False, labels: Labels | None = None) -> GradientReport:
    """Gradients of the loss as training sees it — `loss_fn(outputs)`, else the compiled loss when `labels` are
    known, else a fixed projection of the outputs; `model.losses` (add_loss, regularizers) always added — for every
    variable found, with where each path without gradient is cut; then the forward pass once more inside
    tf.function, where numpy on symbolic tensors fails."""
    report = GradientReport(f"{type(model).__name__} '{getattr(model, 'name', '?')}'", inputs=inputs,
                            inputs_synthesized=synthesized)
    try:
        _build(model, args, kwargs)
        found = discover(model)
        rows = _inventory(model, found)
        report.variables = [status for status, _ in rows]
        report.loss = _fill_gradients(model, args, kwargs, _TrainingLoss(model, args, loss_fn, labels), rows,
                                      found.layers)
    except Exception as exc:
        report.error = describe_exception(exc)
    else:
        report.graph_error = _graph_error(model, args, kwargs)
    return report


def _build(model: Any, args: tuple, kwargs: dict) -> None:
    """Create the variables before looking for them."""
    if not getattr(model, "built", True):
        model(*args, **kwargs)


def discover(root: Any) -> Discovery:
    """Breadth-first over attributes (public before private, so paths read like the user's code), list, tuple,
    set and dict items. Only user objects, Keras layers and tf.Modules are opened: library internals
    (optimizers, metrics, tensors) are not where user weights hide."""
    layer_types, variable_types = _keras_types()
    found = Discovery([], [])
    queue, seen = deque([("model", root)]), {id(root)}
    while queue and len(seen) < _MAX_OBJECTS:
        path, obj = queue.popleft()
        if isinstance(obj, variable_types):
            found.variables.append((path, obj))
            continue
        if isinstance(obj, layer_types):
            found.layers.append(obj)
        for child_path, child in _children(path, obj, layer_types):
            if id(child) not in seen:
                seen.add(id(child))
                queue.append((child_path, child))
    return found


def _keras_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """Layer and variable classes of the Keras versions loaded (never imports one)."""
    kerases = [sys.modules[name] for name in ("keras", "tf_keras") if name in sys.modules]
    layers = tuple(k.layers.Layer for k in kerases)
    variables = (tf.Variable, *(k.Variable for k in kerases if hasattr(k, "Variable")))
    return layers, variables


def _children(path: str, obj: Any, layer_types: tuple[type, ...]) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, types.FunctionType):  # a Lambda layer's function: what it closes over or names globally
        yield from _referenced_by(path, obj)
    elif isinstance(obj, dict):
        for key, value in list(obj.items()):
            yield f"{path}[{key!r}]", value
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for index, value in enumerate(list(obj)):
            yield f"{path}[{index}]", value
    elif isinstance(obj, (*layer_types, tf.Module)) or not _is_library_class(type(obj)):
        if isinstance(getattr(type(obj), "layers", None), property):  # Keras models: `model.layers[0].w`
            yield f"{path}.layers", list(obj.layers)  # reads better than the private list behind it
        attributes = getattr(obj, "__dict__", None)
        if isinstance(attributes, dict):
            for name in sorted(attributes, key=lambda n: n.startswith("_")):
                yield f"{path}.{_public_name(obj, name, attributes[name])}", attributes[name]


def _public_name(obj: Any, name: str, value: Any) -> str:
    """`kernel` for Keras' `_kernel` when the class exposes it as a property: the name the user writes."""
    public = name[1:]
    if name.startswith("_") and isinstance(value, _keras_types()[1]) \
            and isinstance(getattr(type(obj), public, None), property):
        try:
            if getattr(obj, public) is value:
                return public
        except Exception:
            pass
    return name


def _referenced_by(path: str, function: types.FunctionType) -> Iterator[tuple[str, Any]]:
    """Closure cells (any object), and the globals the code names (variables only: a global may be anything)."""
    cells = zip(function.__code__.co_freevars, function.__closure__ or ())
    for name, cell in cells:
        try:
            yield f"{path}→{name}", cell.cell_contents
        except ValueError:  # an empty cell
            pass
    _, variable_types = _keras_types()
    for name in function.__code__.co_names:
        value = function.__globals__.get(name)
        if isinstance(value, variable_types):
            yield f"{path}→{name}", value


@functools.lru_cache(maxsize=None)
def _is_library_class(cls: type) -> bool:
    top = cls.__module__.partition(".")[0]
    if top in sys.stdlib_module_names or top == "builtins":
        return True
    file = getattr(sys.modules.get(top), "__file__", None)  # `__main__` and file-loaded factories: user code
    return top != "__main__" and file is not None and not is_user_file(file)


def _is_floating(variable: Any) -> bool:
    return tf.as_dtype(variable.dtype).is_floating


def _is_reported(variable: Any, tracked: set[int]) -> bool:
    """Integer variables only when Keras tracks them as trainable (its step counters, seed states and
    `steps_per_execution` are not worth a row)."""
    return _is_floating(variable) or (bool(variable.trainable) and id(variable) in tracked)


def _paths_and_variables(model: Any, found: Discovery) -> list[tuple[str, Any]]:
    """Every variable: Keras' own list first, in its order, then the untracked ones the walk found. A tracked
    variable the walk did not reach is named by its Keras name."""
    paths = {id(v): path for path, v in found.variables}
    tracked_ids = {id(v) for v in model.variables}
    return [(paths.get(id(v), variable_name(v)), v) for v in model.variables] + [
        (path, v) for path, v in found.variables if id(v) not in tracked_ids]


def _inventory(model: Any, found: Discovery) -> list[tuple[VariableStatus, Any]]:
    """The variables to report, each with its tape source: every one Keras tracks, plus untracked trainable ones
    (untracked non-trainable ones, like tf_keras' step counters, cannot matter to gradients)."""
    tracked = {id(v) for v in model.variables}
    in_trainable = {id(v) for v in model.trainable_variables}
    frozen = {id(v) for layer in found.layers if not layer.trainable for v in layer.variables}
    rows, sources_seen = [], set()
    for path, variable in _paths_and_variables(model, found):
        source = tape_source(variable)
        if id(source) in sources_seen or not (id(variable) in tracked or variable.trainable) \
                or not _is_reported(variable, tracked):
            continue
        sources_seen.add(id(source))
        status = VariableStatus(
            path=path, name=variable_name(variable), shape=tf.TensorShape(variable.shape).as_list(),
            tracked=id(variable) in tracked, trainable=bool(variable.trainable), frozen=id(variable) in frozen,
            in_trainable_variables=id(variable) in in_trainable, gradient=GRADIENT_UNKNOWN,
            differentiable=_is_floating(variable))
        rows.append((status, source))
    return rows


class _TrainingLoss:
    """The loss as training sees it, and its description for the report."""

    def __init__(self, model: Any, args: tuple, loss_fn: Callable | None, labels: Labels | None) -> None:
        self.model, self.args, self.loss_fn, self.labels = model, args, loss_fn, labels
        self.compiled = getattr(model, "loss", None) if labels is not None else None

    def __call__(self, outputs: Any) -> tf.Tensor:
        if self.compiled:  # compute_loss adds model.losses itself (Keras 3 and tf_keras)
            return tf.convert_to_tensor(self.model.compute_loss(
                x=self.args[0] if self.args else None, y=self.labels.y, y_pred=outputs,
                sample_weight=self.labels.sample_weight))
        loss = tf.cast(tf.convert_to_tensor(self.loss_fn(outputs) if self.loss_fn else _projection_loss(outputs)),
                       tf.float32)
        extra = [tf.cast(tf.reduce_sum(term), tf.float32) for term in self.model.losses]
        return tf.add_n([loss, *extra]) if extra else loss

    def describe(self) -> str:
        if self.compiled:
            base = f"the compiled loss {_loss_name(self.compiled)} (as `fit` computes it)"
        elif self.loss_fn:
            base = f"the loss function {_loss_name(self.loss_fn)}"
        else:
            base = "a fixed random projection of the outputs"
        count = len(self.model.losses)
        return base + (f" + model.losses ({count} add_loss/regularizer term{'s' * (count != 1)})" if count else "")


def _loss_name(loss: Any) -> str:
    """`mean_squared_error (train.py:10)`, `"mse"`, `MeanSquaredError`; several for a list or dict of losses."""
    if isinstance(loss, str):
        return repr(loss)
    if isinstance(loss, dict):
        return ", ".join(f"{key}: {_loss_name(value)}" for key, value in loss.items())
    if isinstance(loss, (list, tuple)):
        return ", ".join(_loss_name(item) for item in loss)
    function = getattr(loss, "fn", None) or loss  # Keras' LossFunctionWrapper keeps the user's function as `fn`
    name = getattr(function, "__name__", None) or type(loss).__name__
    code = getattr(function, "__code__", None)
    if code is not None and is_user_file(code.co_filename):
        return f"`{name}` ({location(code.co_filename, code.co_firstlineno)})"
    return f"`{name}`"


def _fill_gradients(model: Any, args: tuple, kwargs: dict, loss: _TrainingLoss,
                    rows: list[tuple[VariableStatus, Any]], layers: list[Any]) -> str:
    """Fill each row's gradient, whether the forward pass read it and, for a gradient that is None, the first cut
    point its path reaches. Returns the loss's description."""
    sources = [source for _, source in rows]
    recorder = CutRecorder()
    # `reads` watches nothing explicitly: its watched variables are those the forward pass read
    with tf.GradientTape(persistent=True) as tape, tf.GradientTape() as reads:
        # also the non-trainable and frozen ones, to show what they would get
        tape.watch([source for status, source in rows if status.differentiable])
        with recorder, _CalledLayers(layers) as called:
            outputs = model(*args, **kwargs)
            value = loss(outputs)
    # the variables read, in creation order: the forward order where layers build when first called (Keras' own way)
    read_order = {id(variable): order for order, variable in enumerate(reads.watched_variables())}
    gradients = tape.gradient(value, sources)
    if any(g is None for g in gradients):
        cuts = first_cuts(tape, recorder.events, sources)
    for index, ((status, source), gradient) in enumerate(zip(rows, gradients)):
        status.gradient = _gradient_status(gradient)
        status.read = id(source) in read_order or not source.trainable  # a non-trainable one is never auto-watched
        status.read_order = read_order.get(id(source))
        if gradient is None:
            status.cut = cuts.get(index) or (None if status.read else called.unread_in_call(source))
        else:
            status.grad_mean, status.grad_max = _magnitudes(gradient)
    del tape
    return loss.describe()


class _CalledLayers:
    """The user-defined layers whose `call` ran in the forward pass (a profile hook: the model is not touched). A
    weight its own layer's `call` never read had its value taken before, in `build` or `__init__`: a constant
    the forward pass uses, cut from the weight."""

    def __init__(self, layers: list[Any]) -> None:
        self._layers = {id(layer): layer for layer in layers}
        self._called: dict[int, str] = {}  # id(layer) → where its `call` is defined
        self._previous = None

    def __enter__(self) -> _CalledLayers:
        self._previous = sys.getprofile()
        sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        sys.setprofile(self._previous)

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call" and code.co_name == "call" and is_user_file(code.co_filename):
            layer = frame.f_locals.get("self")
            if id(layer) in self._layers:
                self._called[id(layer)] = location(code.co_filename, code.co_firstlineno)

    def unread_in_call(self, source: Any) -> CutSite | None:
        """The cut site of a weight whose innermost layer's `call` ran without reading it; None otherwise."""
        owners = [layer for layer in self._layers.values()
                  if any(tape_source(v) is source for v in layer.variables)]
        owner = min(owners, key=lambda layer: len(layer.variables), default=None)
        if owner is None or id(owner) not in self._called:
            return None
        return CutSite(self._called[id(owner)], f"`{type(owner).__name__}.call` runs without reading it (its value "
                                                 "taken once, in `build`?)")


def _magnitudes(gradient: Any) -> tuple[float | None, float | None]:
    """Mean and max |gradient| (None when not finite: JSON has no NaN)."""
    values = tf.abs(tf.cast(tf.convert_to_tensor(gradient), tf.float64))
    if not int(tf.size(values)):
        return 0.0, 0.0
    magnitudes = (float(tf.reduce_mean(values)), float(tf.reduce_max(values)))
    return tuple(v if math.isfinite(v) else None for v in magnitudes)


def _projection_loss(outputs: Any) -> tf.Tensor:
    """A fixed random projection of every output: a plain sum has zero gradient through softmax or batch norm."""
    terms = [tf.reduce_sum(tf.cast(x, tf.float32) * tf.random.stateless_normal(tf.shape(x), seed=[index, 0]))
             for index, x in enumerate(_numeric_leaves(outputs))]
    return tf.add_n(terms) if terms else tf.constant(0.0)


def _numeric_leaves(structure: Any) -> list[tf.Tensor]:
    tensors = [tf.convert_to_tensor(x) for x in tf.nest.flatten(structure) if x is not None]
    return [t for t in tensors if t.dtype.is_floating or t.dtype.is_integer or t.dtype.is_bool]


def _gradient_status(gradient: Any) -> str:
    if gradient is None:
        return GRADIENT_NONE
    return GRADIENT_OK if tf.math.count_nonzero(tf.convert_to_tensor(gradient)) > 0 else GRADIENT_ZERO


def _graph_error(model: Any, args: tuple, kwargs: dict) -> str | None:
    try:
        tf.function(lambda: model(*args, **kwargs))()
    except Exception as exc:
        return describe_exception(exc)
    return None


def synthesize_inputs(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """Concrete inputs for a model only ever called inside tf.function (fit, predict), from the TensorSpecs seen."""
    def make(index: int, leaf: Any) -> Any:
        if isinstance(leaf, tf.TensorSpec) and leaf.shape.rank is not None:
            shape = [_UNKNOWN_DIMENSION if d is None else d for d in leaf.shape.as_list()]
            if leaf.dtype.is_floating:
                return tf.random.stateless_normal(shape, seed=[index, 1], dtype=leaf.dtype)
            return tf.zeros(shape, leaf.dtype)
        if isinstance(leaf, tf.TypeSpec):
            raise CannotSynthesize(f"cannot build an input for {leaf}")
        return leaf

    return _map_leaves(make, (args, kwargs))


def forward_digest(model: Any, args: tuple, kwargs: dict) -> OutputDigest:
    """The output in inference mode with every floating variable and floating input replaced by values derived
    from its path and shape only. Two builds of the same model (before and after a fix) thus compare equal
    when they compute the same function, even if they draw their initial weights differently."""
    _build(model, args, kwargs)
    for path, variable in _paths_and_variables(model, discover(model)):
        if not _is_floating(variable):
            continue
        centre = 0.0 if variable.trainable else 1.0  # non-trainable: positive, as moving variances must be
        variable.assign(_canonical_values(path, variable.shape, variable.dtype, centre))
    args, kwargs = _map_leaves(_canonical_input, (args, kwargs))
    outputs = model(*args, **{**kwargs, "training": False})
    arrays = [np.asarray(x, dtype=np.float64) for x in _numeric_leaves(outputs)]
    values = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    if values.size > MAX_DIGEST_VALUES:
        values = values[np.linspace(0, values.size - 1, MAX_DIGEST_VALUES).astype(np.int64)]
    return OutputDigest([list(a.shape) for a in arrays], [v if math.isfinite(v) else None for v in values.tolist()])


def _canonical_values(key: str, shape: Any, dtype: Any, centre: float) -> np.ndarray:
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    values = rng.uniform(centre - 0.5, centre + 0.5, tf.TensorShape(shape).as_list())
    return values.astype(tf.as_dtype(dtype).as_numpy_dtype)


def _canonical_input(index: int, leaf: Any) -> Any:
    if isinstance(leaf, (tf.Tensor, np.ndarray)) and tf.as_dtype(leaf.dtype).is_floating:
        return tf.constant(_canonical_values(f"input {index}", leaf.shape, leaf.dtype, centre=0.0))
    return leaf


def _map_leaves(function: Callable[[int, Any], Any], structure: tuple[tuple, dict]) -> tuple[tuple, dict]:
    leaves = tf.nest.flatten(structure)
    return tf.nest.pack_sequence_as(structure, [function(i, leaf) for i, leaf in enumerate(leaves)])
