"""Prove that gradients flow by running the model. Importing this package does not import TensorFlow: the CLI
runs user code in a subprocess (`runner`), and `check_gradients` loads TensorFlow only when called."""

from __future__ import annotations

from typing import Any, Callable

from .report import GradientReport, VariableStatus

__all__ = ["GradientReport", "VariableStatus", "check_gradients"]


def check_gradients(model: Any, inputs: Any, loss_fn: Callable | None = None) -> GradientReport:
    """Probe `model` in this process: loss = loss_fn(model(inputs)) or a fixed random projection of the outputs;
    `report.ok` is False when a variable meant to train is untracked, missing from trainable_variables or gets
    no gradient, or when the forward pass fails inside tf.function. `str(report)` is a readable table."""
    from gradfix.verify.probe import probe

    return probe(model, (inputs,), {}, loss_fn)
