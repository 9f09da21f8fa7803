"""The verify subprocess: `python LAUNCHER TARGET --result FILE [--seed N] [--overlay FILE]`, run from the copy
`bundle.write_child` makes, in gradfix's interpreter or the project's own (`--python`), which need not have gradfix.

Runs the user's target as Python would (a script as `python script.py`, a factory by importing its module), with
the instrumentation attached, probes every model the target called, and writes the result as JSON to FILE:
stdout and stderr belong to the user's code. With `--overlay`, the target runs with some files patched (see
`overlay`)."""

from __future__ import annotations

import argparse
import atexit
import importlib
import importlib.util
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from . import instrument
from .frames import describe_exception
from .instrument import RECORDER, CalledModel
from .overlay import Overlay, run_script
from .targets import Target, parse_target

NOTHING_TO_VERIFY = ("nothing to verify: the target called no Keras model that has weights "
                     "and never called GradientTape.gradient")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gradfix verify child")
    parser.add_argument("target")
    parser.add_argument("--result", required=True, help="where to write the JSON result")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overlay", help="JSON {original path: patched source}: run as if those files were patched")
    options = parser.parse_args(argv)
    result = verify(options.target, options.seed, Overlay.read(options.overlay))
    Path(options.result).write_text(json.dumps(result), encoding="utf-8")
    atexit._run_exitfuncs()  # the script's exit handlers run as they would; then skip the seconds it takes to
    sys.stdout.flush()  # tear TensorFlow down object by object
    sys.stderr.flush()
    os._exit(0)


def verify(target_text: str, seed: int, overlay: Overlay) -> dict:
    started = time.perf_counter()
    error, made = None, None
    try:
        made = _run(parse_target(target_text), seed, overlay)
    except SystemExit as exc:  # the script's own sys.exit()
        if exc.code not in (0, None):
            error = f"the script exited with status {exc.code}" if isinstance(exc.code, int) \
                else f"the script exited: {exc.code}"
    except BaseException as exc:  # user code may raise anything; KeyboardInterrupt included
        error = describe_exception(exc)
    ran = time.perf_counter()
    RECORDER.active = False
    # after a crash too: what the target called so far may explain the crash
    to_probe = made if made is not None else [(called, None) for called in RECORDER.models]
    reports = _probe_all(to_probe) if to_probe else []
    tape_calls = RECORDER.tape_calls
    if error is None and not reports and not tape_calls:
        error = NOTHING_TO_VERIFY
    return {"error": error, "keras": _keras_in_use(), "models": [r.to_dict() for r in reports],
            "tape_calls": [asdict(call) for call in tape_calls],
            "timings": {"target": ran - started, "probe": time.perf_counter() - ran}}


def _run(target: Target, seed: int, overlay: Overlay) -> list[tuple[CalledModel, Callable | None]] | None:
    """Run the target. A factory's model is returned with its loss function (None: project the outputs);
    for a script, None: the recorder holds what it called."""
    # as `python script.py` would: its folder first on sys.path (`module:factory`: the cwd, as `python -m`)
    sys.path[0] = os.path.dirname(os.path.abspath(target.path)) if target.path else os.getcwd()
    overlay.install()
    instrument.install(seed)
    if target.script:
        sys.argv = [target.script]
        run_script(target.script, overlay)
        return None
    factory = getattr(_import(target, overlay), target.factory)
    made, where = factory(), f"{target.factory}()"
    input_specs = _input_specs(made)
    if input_specs is not None:  # `build_model()` returning just a model: probed on random inputs of its shapes
        return [(CalledModel(made, input_specs, {}, where, eager=False), None)]
    if not (isinstance(made, tuple) and len(made) in (2, 3)):
        raise TypeError(f"{where} must return (model, inputs) or (model, inputs, loss_fn), or a model whose inputs "
                        f"are declared (keras.Input), not {type(made).__name__}")
    model, inputs, *loss = made
    return [(CalledModel(model, (inputs,), {}, where), loss[0] if loss else None)]


def _input_specs(model: Any) -> tuple | None:
    """(TensorSpecs of a Keras model's declared inputs,) — one spec, or a list for several — else None."""
    tf = sys.modules.get("tensorflow")
    try:
        declared = model.inputs if tf is not None and hasattr(model, "layers") else None
    except AttributeError:  # a subclassed model that has never been called
        return None
    if not declared:
        return None
    specs = [tf.TensorSpec(x.shape, x.dtype) for x in declared]
    return (specs[0] if len(specs) == 1 else specs,)


def _import(target: Target, overlay: Overlay) -> Any:
    if target.module:
        return importlib.import_module(target.module)
    name = Path(target.file).stem
    spec = importlib.util.spec_from_file_location(name, target.file, loader=overlay.loader(name, target.file))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _probe_all(to_probe: list[tuple[CalledModel, Callable | None]]) -> list:
    from . import probe  # TensorFlow is loaded: the target imported it to build its models

    inner = {id(layer) for called, _ in to_probe for layer in probe.discover(called.model).layers
             if layer is not called.model}
    probed = []
    for called, loss_fn in to_probe:
        if id(called.model) in inner:
            continue  # a part of a model probed as a whole
        batch = RECORDER.training_batches.get(id(called.model)) if loss_fn is None else None
        labels = None
        if batch:  # trained by fit: probe on its batch, with its labels, through the compiled loss
            x, y, sample_weight = (*batch.data, None, None)[:3]
            args, kwargs, eager = (x, y, sample_weight), {"training": True}, batch.eager
            inputs = f"the training batch at {batch.location}" if eager else \
                f"random data shaped like the training batch traced at {batch.location}"
        else:
            args, kwargs, eager = called.args, called.kwargs, called.eager
            inputs = f"inputs from {called.location}" if eager else \
                f"random inputs shaped like those traced at {called.location}"
        if not eager:
            try:
                args, kwargs = probe.synthesize_inputs(args, kwargs)
            except probe.CannotSynthesize:
                continue
        if batch:
            (x, y, sample_weight), args = args, args[:1]
            labels = probe.Labels(y, sample_weight) if y is not None else None
        report = probe.probe(called.model, args, kwargs, loss_fn, inputs=inputs, synthesized=not eager,
                             labels=labels)
        if report.variables or report.error or report.graph_error:
            probed.append((report, called.model, args, kwargs))
    for report, model, args, kwargs in probed:  # last: it overwrites the weights
        if report.error is None:
            try:
                report.output = probe.forward_digest(model, args, kwargs)
            except Exception:
                pass  # no digest, so `compare` reports the forward output as not compared
    return [report for report, *_ in probed]


def _keras_in_use() -> str | None:
    """The Keras versions the target loaded, the one `tf.keras` stands for first."""
    tf_keras_first = os.environ.get("TF_USE_LEGACY_KERAS", "").lower() in ("1", "true")
    names = ("tf_keras", "keras") if tf_keras_first else ("keras", "tf_keras")
    return ", ".join(f"{name} {sys.modules[name].__version__}" for name in names if name in sys.modules) or None


if __name__ == "__main__":
    main()
