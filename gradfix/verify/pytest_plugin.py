"""pytest plugin (entry point `pytest11`): the `assert_gradients_flow` fixture. Loaded in every pytest run of
the environment, so it imports nothing heavy; TensorFlow loads when a test calls the fixture."""

from __future__ import annotations

from typing import Any, Callable

import pytest


@pytest.fixture
def assert_gradients_flow() -> Callable:
    """`assert_gradients_flow(model, inputs, loss_fn=None)` fails the test with the gradient table when a
    variable meant to train gets no gradient (or is untracked, or missing from trainable_variables)."""

    def check(model: Any, inputs: Any, loss_fn: Callable | None = None):
        __tracebackhide__ = True
        from gradfix.verify import check_gradients

        report = check_gradients(model, inputs, loss_fn)
        if not report.ok:
            pytest.fail(f"gradients do not flow:\n{report}", pytrace=False)
        return report

    return check
