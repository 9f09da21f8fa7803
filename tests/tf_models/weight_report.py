"""What Keras makes of the weights of fixture models: run with TensorFlow, one process per Keras version.

    python weight_report.py FIXTURE.py ...      (TF_USE_LEGACY_KERAS=1 for tf_keras)

Each fixture defines `make()` returning `(model, inputs)`. Prints one line `REPORT {json}` mapping each
path to its `intended` weights — found by walking the model's attributes: everything trainable that the
fixture's own classes store, and the trainable weights of Keras's built-in layers — and to those of them
that are `untracked` (missing from `model.trainable_variables`), get `no_gradient` from a loss on the
model's output, or, under Keras 3, are `not_restored` with equal values by `model.save("x.keras")` +
`keras.models.load_model`. A fixture that cannot run reports an `error`.
"""

from __future__ import annotations

import collections.abc
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

keras = tf.keras
KERAS_3 = os.environ.get("TF_USE_LEGACY_KERAS") != "1"
# A fixture may use `tf.keras` (tf_keras under TF_USE_LEGACY_KERAS=1) or standalone `keras` (always Keras 3).
KERAS_MODULES = [keras] + [importlib.import_module("keras")] * (not KERAS_3)
VARIABLES = (tf.Variable, *(m.Variable for m in KERAS_MODULES if hasattr(m, "Variable")))
MODELS = tuple(m.Model for m in KERAS_MODULES)
LAYERS = tuple(m.layers.Layer for m in KERAS_MODULES)


def load_fixture(path: Path):
    name = "fixture_" + path.parent.name + "_" + path.stem.replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def intended_weights(model, module) -> dict:
    """Attribute path → trainable variable, for every weight the fixture means its model to have."""
    found, seen = {}, set()

    def visit(value, path):
        if id(value) in seen or isinstance(value, (str, bytes)):
            return
        seen.add(id(value))
        if isinstance(value, VARIABLES):
            if value.trainable:
                found.setdefault(path, value)
        elif isinstance(value, collections.abc.Mapping):
            for key, item in value.items():
                visit(item, f"{path}[{key!r}]")
        elif isinstance(value, collections.abc.Sequence):
            for index, item in enumerate(value):
                visit(item, f"{path}[{index}]")
        elif type(value).__module__ == module.__name__:
            for name, item in vars(value).items():
                if not name.startswith("_"):
                    visit(item, f"{path}.{name}")
        elif isinstance(value, MODELS):  # Sequential / functional: its layers, tracked or not
            for index, layer in enumerate(value.layers):
                visit(layer, f"{path}.layers[{index}]")
        elif isinstance(value, LAYERS):  # a built-in layer: its own weights are right by definition
            for index, variable in enumerate(value.trainable_weights):
                visit(variable, f"{path}.trainable_weights[{index}]")

    visit(model, "model")
    return found


def untracked(model, intended: dict) -> list[str]:
    tracked = {id(v) for v in model.trainable_variables}
    return [path for path, variable in intended.items() if id(variable) not in tracked]


def without_gradient(model, inputs, intended: dict) -> list[str]:
    with tf.GradientTape() as tape:
        outputs = model(inputs, training=True)
        loss = tf.add_n([tf.reduce_sum(tf.square(tf.cast(o, tf.float32))) for o in tf.nest.flatten(outputs)])
    gradients = tape.gradient(loss, list(intended.values()))
    return [path for path, gradient in zip(intended, gradients) if gradient is None]


def not_restored(model, module, intended: dict) -> list[str]:
    """Give every intended weight a new value, save to .keras, load, and compare weight by weight.

    The round trip checks weights, not constructor serialization: the fixture's top-level class is
    rebuilt by its own `make()`."""
    for variable in intended.values():
        variable.assign(variable * 0.5 + 0.25)
    custom_objects = {name: value for name, value in vars(module).items() if isinstance(value, type)}
    model_class = type(model)
    if model_class.__module__ == module.__name__:
        class Rebuilt:
            @classmethod
            def from_config(cls, config):
                return module.make()[0]

        custom_objects[model_class.__name__] = Rebuilt
        try:
            model.get_config()
        except NotImplementedError:
            model_class.get_config = lambda self: {}
    path = os.path.join(tempfile.mkdtemp(), "x.keras")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects=custom_objects, compile=False)
    reloaded = intended_weights(loaded, module)
    return [p for p, v in intended.items()
            if p not in reloaded or not np.allclose(np.asarray(reloaded[p]), np.asarray(v))]


def report(path: Path) -> dict:
    try:
        module = load_fixture(path)
        model, inputs = module.make()
        model(inputs)  # build
        intended = intended_weights(model, module)
        result = {"intended": list(intended), "untracked": untracked(model, intended),
                  "no_gradient": without_gradient(model, inputs, intended)}
        result["not_restored"] = not_restored(model, module, intended) if KERAS_3 else []
        return result
    except Exception as exc:  # reported, so one broken fixture does not hide the others
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}


if __name__ == "__main__":
    print("REPORT " + json.dumps({path: report(Path(path)) for path in sys.argv[1:]}))
