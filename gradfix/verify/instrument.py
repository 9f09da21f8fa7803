"""Instrumentation for a script run by `gradfix verify`: every `GradientTape.gradient` call is recorded with the
sources that got None (variables and tensors), which of them the tape never read, and the first cut point
(NumPy conversion, op without gradient) recorded while the tape recorded; every layer or model called from user
code is remembered with its last inputs, and a model's training batch (`train_step`) with its labels. The
patches attach when the script itself imports TensorFlow / Keras / tf_keras, so the child pays no import the
script would not pay, and whichever Keras the script really uses is covered."""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import linecache
import random
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType, ModuleType
from typing import Any, Callable

from .frames import caller_location, location, user_frame
from .report import TapeCall, variable_name

RECORDED_TAPES_PER_LINE = 2  # cut points are recorded for the first tapes opened at each line: a training loop
# repeats the same step, and recording slows every op down


@dataclass
class CalledModel:
    """A layer called from user code (not from inside another layer), with the inputs to probe it on."""

    model: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    location: str = "?"
    eager: bool = True  # False: args/kwargs hold tf.TensorSpecs, seen while tracing a tf.function (fit, predict)


@dataclass
class TrainingBatch:
    """The data of a model's `train_step` (fit, train_on_batch): x, y and sample weights, as tensors (eager) or
    tf.TypeSpecs (traced)."""

    data: tuple
    location: str
    eager: bool


class Recorder:
    def __init__(self) -> None:
        self.active = True
        self._models: dict[int, CalledModel] = {}
        self._tape_calls: dict[tuple, TapeCall] = {}
        self._local = threading.local()
        self.training_batches: dict[int, TrainingBatch] = {}
        self._tapes_opened: Counter[str] = Counter()

    @property
    def models(self) -> list[CalledModel]:
        return list(self._models.values())

    @property
    def tape_calls(self) -> list[TapeCall]:
        return list(self._tape_calls.values())

    def call_layer(self, call: Callable, layer: Any, args: tuple, kwargs: dict, keras_tensor: type) -> Any:
        depth = getattr(self._local, "depth", 0)
        if depth == 0 and self.active:
            self._remember(layer, args, kwargs, keras_tensor)
        self._local.depth = depth + 1
        try:
            return call(layer, *args, **kwargs)
        finally:
            self._local.depth = depth

    def _remember(self, layer: Any, args: tuple, kwargs: dict, keras_tensor: type) -> None:
        tf = sys.modules["tensorflow"]
        if any(isinstance(x, keras_tensor) for x in tf.nest.flatten((args, kwargs))):
            return  # building a functional model; the model is remembered when it is called
        where = caller_location(sys._getframe()) or "?"
        if tf.executing_eagerly():
            self._models[id(layer)] = CalledModel(layer, args, kwargs, where)
        elif id(layer) not in self._models or not self._models[id(layer)].eager:
            symbolic = (tf.Tensor, tf.RaggedTensor, tf.SparseTensor)
            spec_args, spec_kwargs = tf.nest.map_structure(
                lambda x: tf.type_spec_from_value(x) if isinstance(x, symbolic) else x, (args, kwargs))
            self._models[id(layer)] = CalledModel(layer, spec_args, spec_kwargs, where, eager=False)

    def train_step(self, model: Any, data: Any) -> None:
        """Keep the latest batch of each model, eager over traced (eager tensors can be probed as they are)."""
        if not self.active:
            return
        tf = sys.modules["tensorflow"]
        eager = tf.executing_eagerly()
        if not eager and id(model) in self.training_batches and self.training_batches[id(model)].eager:
            return
        unpacked = tuple(data) if isinstance(data, (tuple, list)) else (data,)
        if not eager:
            unpacked = tf.nest.map_structure(
                lambda x: tf.type_spec_from_value(x) if isinstance(x, (tf.Tensor, tf.SparseTensor)) else x, unpacked)
        self.training_batches[id(model)] = TrainingBatch(unpacked, caller_location(sys._getframe()) or "?", eager)

    def tape_opening(self, tape: Any) -> None:
        """Record cut points while the first tapes opened at each line record. Such a tape is made persistent so
        that `first_cuts` can ask it which sources reach each cut point; the patched `gradient` then releases it as
        a non-persistent tape would be."""
        if not self.active or tape._tape is not None:  # re-entered: it keeps what it had
            return
        where = caller_location(sys._getframe()) or "?"
        self._tapes_opened[where] += 1
        if self._tapes_opened[where] <= RECORDED_TAPES_PER_LINE:
            from .cuts import CutRecorder  # TensorFlow is loaded: a tape is being opened

            tape._gradfix_made_persistent = not tape._persistent
            tape._persistent = True
            tape._gradfix_cuts = CutRecorder()

    @staticmethod
    def tape_opened(tape: Any) -> None:
        recorder = getattr(tape, "_gradfix_cuts", None)
        if recorder is not None:
            recorder.__enter__()

    @staticmethod
    def tape_closed(tape: Any) -> None:
        recorder = getattr(tape, "_gradfix_cuts", None)
        if recorder is not None:
            recorder.__exit__(None, None, None)

    def gradient_returned(self, tape: Any, sources: Any, gradients: Any, read: set[int] | None,
                          unpatched_gradient: Callable) -> None:
        """`read`: ids of the variables the tape watched before the call (None: not known)."""
        if not self.active:
            return
        from .cuts import first_cuts, is_floating_tensor, is_variable, tape_source  # TensorFlow is loaded

        tf = sys.modules["tensorflow"]
        flat_sources = tf.nest.flatten(sources)
        none_variables, none_tensors, unread = [], [], []
        frame = user_frame(sys._getframe())
        names = _source_expressions(frame, len(flat_sources)) if frame else None
        judged: dict[int, str] = {}  # source index → its name, for the sources whose cut is looked for
        for index, (source, gradient) in enumerate(zip(flat_sources, tf.nest.flatten(gradients))):
            if gradient is not None:
                continue
            if is_variable(source):
                if getattr(source, "trainable", False):
                    none_variables.append(variable_name(source))
                    judged[index] = none_variables[-1]
                    if read is not None and id(tape_source(source)) not in read:
                        unread.append(none_variables[-1])
            elif is_floating_tensor(source):  # an integer tensor never has a gradient
                none_tensors.append(names[index] if names else f"sources[{index}]")
                judged[index] = none_tensors[-1]
        recorder = getattr(tape, "_gradfix_cuts", None)
        cuts = {}
        if judged and recorder is not None and recorder.events:
            found = first_cuts(tape, recorder.events, [tape_source(s) for s in flat_sources], unpatched_gradient)
            cuts = {name: found[index] for index, name in judged.items() if index in found}
        where = location(frame.f_code.co_filename, frame.f_lineno) if frame else "?"
        key = (where, not tf.executing_eagerly(), tuple(none_variables), tuple(none_tensors))
        if key in self._tape_calls:
            self._tape_calls[key].calls += 1
        else:
            self._tape_calls[key] = TapeCall(where, key[1], len(flat_sources), none_variables,
                                             none_tensors=none_tensors, unread_variables=unread, cuts=cuts)


def _source_expressions(frame: FrameType, count: int) -> list[str] | None:
    """The sources of the `tape.gradient(...)` call running in `frame`, as written (`[w, x]` → "w", "x"), when
    the call spells out as many as were passed."""
    positions = inspect.getframeinfo(frame).positions
    if positions is None or positions.lineno is None or positions.end_lineno is None:
        return None
    lines = [linecache.getline(frame.f_code.co_filename, n) for n in range(positions.lineno, positions.end_lineno + 1)]
    if len(lines) == 1:
        text = lines[0][positions.col_offset:positions.end_col_offset]
    else:
        text = lines[0][positions.col_offset:] + "".join(lines[1:-1]) + lines[-1][:positions.end_col_offset]
    try:
        call = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call):
        return None
    argument = call.args[1] if len(call.args) > 1 else next(
        (k.value for k in call.keywords if k.arg == "sources"), None)
    if argument is None:
        return None
    items = argument.elts if isinstance(argument, (ast.List, ast.Tuple)) else [argument]
    return [ast.unparse(item) for item in items] if len(items) == count else None


RECORDER = Recorder()


def install(seed: int) -> None:
    """Seed every random generator and patch TensorFlow, Keras 3 and tf_keras: now if imported, else the moment
    the script imports them. The same seed gives a script and its patched copy the same data and weights."""
    random.seed(seed)
    patches = {"numpy": lambda numpy: numpy.random.seed(seed),
               "tensorflow": functools.partial(_patch_tensorflow, seed=seed),
               "keras": _patch_keras,
               "tf_keras": _patch_tf_keras}
    pending = {}
    for name, patch in patches.items():
        if name in sys.modules:
            patch(sys.modules[name])
        else:
            pending[name] = patch
    sys.meta_path.insert(0, _PatchOnImport(pending))


def _patch_tensorflow(tf: ModuleType, seed: int) -> None:
    tf.random.set_seed(seed)
    if getattr(tf.GradientTape.gradient, "_gradfix", False):  # patched already (the module ran twice)
        return
    gradient, enter, exit_ = tf.GradientTape.gradient, tf.GradientTape.__enter__, tf.GradientTape.__exit__

    @functools.wraps(gradient)
    def recorded_gradient(tape, target, sources, *args, **kwargs):
        read = {id(v) for v in tape.watched_variables()} if getattr(tape, "_tape", None) is not None else None
        made_persistent = getattr(tape, "_gradfix_made_persistent", False)
        if made_persistent and tape._recording:  # as a non-persistent tape does: stop recording
            RECORDER.tape_closed(tape)
            tape._pop_tape()
        result = gradient(tape, target, sources, *args, **kwargs)
        RECORDER.gradient_returned(tape, sources, result, read, gradient)
        if made_persistent and tape._tape is not None:  # release it, as a non-persistent tape is after one call
            tape._watched_variables, tape._tape = tape._tape.watched_variables(), None
            tape._gradfix_made_persistent = False
        return result

    @functools.wraps(enter)
    def recorded_enter(tape):
        RECORDER.tape_opening(tape)
        entered = enter(tape)
        RECORDER.tape_opened(tape)
        return entered

    @functools.wraps(exit_)
    def recorded_exit(tape, *exc_info):
        RECORDER.tape_closed(tape)
        return exit_(tape, *exc_info)

    recorded_gradient._gradfix = True
    tf.GradientTape.gradient = recorded_gradient
    tf.GradientTape.__enter__, tf.GradientTape.__exit__ = recorded_enter, recorded_exit


def _patch_keras(keras: ModuleType) -> None:
    _patch_layers(keras.layers.Layer, getattr(keras, "KerasTensor", None))
    _patch_train_step(keras.Model)


def _patch_tf_keras(tf_keras: ModuleType) -> None:
    keras_tensor = importlib.import_module("tf_keras.src.engine.keras_tensor")
    _patch_layers(tf_keras.layers.Layer, keras_tensor.KerasTensor)
    _patch_train_step(tf_keras.Model)


def _patch_train_step(model_class: type) -> None:
    train_step = getattr(model_class, "train_step", None)
    if train_step is None:
        return

    @functools.wraps(train_step)
    def recorded_train_step(model, data):
        RECORDER.train_step(model, data)
        return train_step(model, data)

    model_class.train_step = recorded_train_step


def _patch_layers(layer_class: type, keras_tensor: type | None) -> None:
    if keras_tensor is None:  # not a Keras this module knows (Keras 2 standalone): leave it alone
        return
    call = layer_class.__call__

    @functools.wraps(call)
    def remembered_call(layer, *args, **kwargs):
        return RECORDER.call_layer(call, layer, args, kwargs, keras_tensor)

    layer_class.__call__ = remembered_call


class _PatchOnImport:
    """A meta-path finder that wraps the loader of some top-level packages to run a patch after they execute."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self._patches = patches

    def find_spec(self, name, path=None, target=None):
        if name not in self._patches:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _PatchingLoader(spec.loader, self._patches[name])
                return spec
        return None


class _PatchingLoader:
    def __init__(self, loader: Any, patch: Callable[[ModuleType], None]) -> None:
        self._loader, self._patch = loader, patch

    def __getattr__(self, name: str) -> Any:  # resource readers, get_code, is_package ...
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        self._patch(module)
