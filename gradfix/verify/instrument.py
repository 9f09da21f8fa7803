"""Instrumentation for a script run by `gradfix verify`: every `GradientTape.gradient` call is recorded with the
trainable variables that got None, and every layer or model called from user code is remembered with its last
inputs. The patches attach when the script itself imports TensorFlow / Keras / tf_keras, so the child pays no
import the script would not pay, and whichever Keras the script really uses is covered."""

from __future__ import annotations

import functools
import importlib
import random
import sys
import threading
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

from .frames import caller_location
from .report import TapeCall, variable_name


@dataclass
class CalledModel:
    """A layer called from user code (not from inside another layer), with the inputs to probe it on."""

    model: Any
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    location: str = "?"
    eager: bool = True  # False: args/kwargs hold tf.TensorSpecs, seen while tracing a tf.function (fit, predict)


class Recorder:
    def __init__(self) -> None:
        self.active = True
        self._models: dict[int, CalledModel] = {}
        self._tape_calls: dict[tuple, TapeCall] = {}
        self._local = threading.local()

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

    def gradient_returned(self, sources: Any, gradients: Any) -> None:
        if not self.active:
            return
        tf = sys.modules["tensorflow"]
        flat_sources = tf.nest.flatten(sources)
        none = tuple(_source_name(source) for source, gradient in zip(flat_sources, tf.nest.flatten(gradients))
                     if gradient is None and _meant_to_get_gradient(tf, source))
        key = (caller_location(sys._getframe()) or "?", not tf.executing_eagerly(), none)
        if key in self._tape_calls:
            self._tape_calls[key].calls += 1
        else:
            self._tape_calls[key] = TapeCall(key[0], key[1], len(flat_sources), list(none))


def _meant_to_get_gradient(tf: ModuleType, source: Any) -> bool:
    """A trainable variable, or a float tensor asked for by name (`tape.gradient(score, image)`: a saliency map,
    an adversarial step, a gradient penalty), whose None gradient is a bug too."""
    if hasattr(source, "trainable"):
        return bool(source.trainable)
    return tf.is_tensor(source) and getattr(source, "dtype", None) is not None and source.dtype.is_floating


def _source_name(source: Any) -> str:
    if hasattr(source, "trainable"):
        return variable_name(source)
    return f"input tensor of shape {tuple(source.shape)}"


RECORDER = Recorder()


def install(seed: int) -> None:
    """Seed every random generator and patch TensorFlow, Keras 3 and tf_keras: now if imported, else the moment
    the script imports them. The same seed gives a script and its patched copy the same data and weights."""
    random.seed(seed)
    patches = {"numpy": lambda numpy: numpy.random.seed(seed),
               "tensorflow": functools.partial(_patch_tensorflow, seed=seed),
               "keras": lambda keras: _patch_layers(keras.layers.Layer, getattr(keras, "KerasTensor", None)),
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
    gradient = tf.GradientTape.gradient

    @functools.wraps(gradient)
    def recorded_gradient(tape, target, sources, *args, **kwargs):
        result = gradient(tape, target, sources, *args, **kwargs)
        RECORDER.gradient_returned(sources, result)
        return result

    tf.GradientTape.gradient = recorded_gradient


def _patch_tf_keras(tf_keras: ModuleType) -> None:
    keras_tensor = importlib.import_module("tf_keras.src.engine.keras_tensor")
    _patch_layers(tf_keras.layers.Layer, keras_tensor.KerasTensor)


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
