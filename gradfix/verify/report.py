"""What a gradient probe found, as plain data: built in the verify child (with TensorFlow), read in the parent
(without), and judged the same way in both."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

GRADIENT_OK = "ok"
GRADIENT_ZERO = "zero"  # a gradient exists but is exactly zero everywhere: suspicious, not a failure
GRADIENT_NONE = "none"
GRADIENT_UNKNOWN = "unknown"  # the forward pass failed, so no gradient was computed

MAX_DIGEST_VALUES = 10_000


def variable_name(variable: Any) -> str:
    """The name people know a runtime variable by: Keras 3's path, else TensorFlow's name without `:0`."""
    name = getattr(variable, "path", None) or getattr(variable, "name", None) or "?"
    return name[:-2] if name.endswith(":0") else name


@dataclass
class VariableStatus:
    path: str  # where the probe found it in the object graph, e.g. "model.scale.w"
    name: str  # the variable's own name (the Keras path when Keras created it)
    shape: list[int | None]
    tracked: bool  # listed in `model.variables`
    trainable: bool  # the variable's own flag
    frozen: bool  # owned by a layer set `trainable = False`: deliberately not trained
    in_trainable_variables: bool
    gradient: str
    grad_mean: float | None = None  # mean |gradient| in the probe; None without a gradient
    grad_max: float | None = None  # max |gradient| in the probe
    read_order: int | None = None  # among the trainable variables the forward pass read, by creation; None: unread

    @property
    def label(self) -> str:
        """Keras' name when Keras knows the variable; the attribute path (all the user has) when it does not."""
        return self.name if self.tracked else self.path

    @property
    def meant_to_train(self) -> bool:
        return self.trainable and not self.frozen

    @property
    def problems(self) -> list[str]:
        """Why this variable will not train, for a variable meant to; empty when it will."""
        if not self.meant_to_train:
            return []
        found = []
        if not self.tracked:
            found.append("not tracked by Keras")
        elif not self.in_trainable_variables:
            found.append("missing from trainable_variables")
        if self.gradient == GRADIENT_NONE:
            found.append("gradient is None")
        return found


@dataclass
class OutputDigest:
    """A forward output reduced to what a max-|Δ| comparison needs: shapes and (at most MAX_DIGEST_VALUES,
    evenly spaced) values, None where not finite (JSON has no NaN). Equal shapes sample the same positions,
    so two digests compare element-wise."""

    shapes: list[list[int]]
    values: list[float | None]

    @classmethod
    def concat(cls, digests: list[OutputDigest]) -> OutputDigest:
        return cls([s for d in digests for s in d.shapes], [v for d in digests for v in d.values])

    def max_abs(self) -> float:
        return max((abs(v) for v in self.values if v is not None), default=0.0)

    def max_abs_diff(self, other: OutputDigest) -> float:
        if self.shapes != other.shapes or len(self.values) != len(other.values):
            return math.inf
        return max((_abs_diff(a, b) for a, b in zip(self.values, other.values)), default=0.0)


def _abs_diff(a: float | None, b: float | None) -> float:
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    return abs(a - b)


@dataclass
class GradientReport:
    """One model probed under tf.GradientTape."""

    model: str
    variables: list[VariableStatus] = field(default_factory=list)
    inputs: str = "inputs given"  # where the probe's inputs came from
    inputs_synthesized: bool = False  # built from a tf.function input signature: a failing forward is inconclusive
    error: str | None = None  # the eager forward pass or loss failed
    graph_error: str | None = None  # the forward pass failed inside tf.function only
    output: OutputDigest | None = None

    @property
    def failures(self) -> list[str]:
        return [f"{v.label}: {', '.join(v.problems)}" for v in self.variables if v.problems] + self.model_failures

    @property
    def model_failures(self) -> list[str]:
        """Failures of the model as a whole, not of one variable."""
        found = []
        if self.error and not self.inputs_synthesized:
            found.append(f"forward pass failed: {self.error}")
        if self.graph_error:
            found.append(f"forward pass fails inside tf.function: {self.graph_error}")
        return found

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        from gradfix.verify.render import report_renderable, to_text

        return to_text(report_renderable(self))

    def __rich__(self):
        from gradfix.verify.render import report_renderable

        return report_renderable(self)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> GradientReport:
        output = data.get("output")
        return cls(**{**data, "variables": [VariableStatus(**v) for v in data["variables"]],
                      "output": OutputDigest(**output) if output else None})


@dataclass
class TapeCall:
    """Calls of `GradientTape.gradient` from one place with the same outcome. Inside tf.function (fit, custom
    train steps) the call happens once per trace; which gradients are None is decided then."""

    location: str
    in_function: bool
    sources: int
    none_variables: list[str]  # trainable variables (and float tensors) asked for whose gradient was None
    calls: int = 1

    @property
    def ok(self) -> bool:
        return not self.none_variables
