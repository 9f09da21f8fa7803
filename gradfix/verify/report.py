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


# What a variable's gradient says, one verdict per variable (`VariableStatus.verdict`)
TRAINS = "trains"
CUT = "cut"  # read by the forward pass, gradient None: a conversion to NumPy or an op without gradient on its path
UNUSED = "unused"  # the loss does not depend on it and nothing cut it: never read, or its result is discarded
UNTRACKED = "untracked"  # reachable from the model, but not in its variables: Keras neither trains nor saves it
EXCLUDED = "excluded"  # tracked, but left out of trainable_variables (an override)
FROZEN = "frozen"  # its layer is `trainable = False`: deliberate
NOT_TRAINABLE = "not-trainable"  # created with trainable=False (batch-norm statistics ...)
NOT_DIFFERENTIABLE = "not-differentiable"  # integer dtype: no gradient can exist
UNKNOWN = "unknown"  # the forward pass failed, so no gradient was computed
NO_DEPENDENCE = ("the loss depends on none of the variables asked for (computed before the tape started, or cut where "
                 "verify cannot see)")
FAILING_VERDICTS = (CUT, UNTRACKED, EXCLUDED)  # UNUSED too under --strict
VERDICTS = (TRAINS, CUT, UNUSED, UNTRACKED, EXCLUDED, FROZEN, NOT_TRAINABLE, NOT_DIFFERENTIABLE, UNKNOWN)


@dataclass
class CutSite:
    """Where a gradient path is cut: the user's line and what happened there."""

    location: str  # "model.py:26"
    what: str  # "np.dot on a tensor", "TensorFlow op Round (no gradient)"
    finding: str | None = None  # the static finding on that line that explains it: "GF101 np.dot() on a tensor ..."

    def __str__(self) -> str:
        return f"{self.location}: {self.what}" + (f" ({self.finding})" if self.finding else "")


@dataclass
class VariableStatus:
    """One variable as the probe (and the target's own tape calls) saw it. The facts are stored; the verdict is
    derived from them, so rows, failures and counts cannot disagree."""

    path: str  # where the probe found it in the object graph, e.g. "model.box_head.kernel"
    name: str  # the variable's own name (the Keras path when Keras created it)
    shape: list[int | None]
    tracked: bool  # listed in `model.variables`
    trainable: bool  # the variable's own flag
    frozen: bool  # owned by a layer set `trainable = False`: deliberately not trained
    in_trainable_variables: bool
    gradient: str
    differentiable: bool = True  # floating-point dtype
    read: bool | None = None  # read while the probe's tape recorded (None: not known)
    grad_mean: float | None = None  # mean |gradient| in the probe
    grad_max: float | None = None  # max |gradient| in the probe
    read_order: int | None = None  # among the trainable variables the forward pass read, by creation; None: unread
    cut: CutSite | None = None  # the first cut point its path reaches
    script_none: str | None = None  # a `tape.gradient` call of the target that returned None for it
    script_read: bool = True  # that call's tape read it

    @property
    def label(self) -> str:
        """Keras' name when Keras knows the variable; the attribute path (all the user has) when it does not."""
        return self.name if self.tracked else self.path

    @property
    def meant_to_train(self) -> bool:
        return self.trainable and not self.frozen and self.differentiable

    @property
    def verdict(self) -> str:
        if not self.differentiable:
            return NOT_DIFFERENTIABLE
        if self.frozen:
            return FROZEN
        if not self.trainable:
            return NOT_TRAINABLE
        if not self.tracked:
            return UNTRACKED
        if not self.in_trainable_variables:
            return EXCLUDED
        if self.gradient == GRADIENT_UNKNOWN and not self.script_none:
            return UNKNOWN
        if self.gradient == GRADIENT_NONE:
            return CUT if self.cut or self.read is None else UNUSED
        if self.script_none:  # the probe's loss reaches it, the loss of the script's tape does not
            return CUT if self.cut else UNUSED
        return TRAINS

    @property
    def detail(self) -> str:
        """The verdict in words, with what to look at."""
        verdict = self.verdict
        if verdict == CUT and self.gradient == GRADIENT_NONE:
            return f"cut at {self.cut}" if self.cut else "gradient is None"
        if verdict == CUT:  # only the script's loss is cut off from it
            return f"cut at {self.cut} (tape.gradient at {self.script_none} returned None)"
        if verdict == UNUSED:
            if self.read is False:
                return "never read by the forward pass: built but never called in `call`?"
            if not self.script_read:
                return f"never read by the tape of tape.gradient at {self.script_none} (a step training another part?)"
            return "read, but nothing it computes reaches the loss (an output the loss ignores?)"
        return {UNTRACKED: "not tracked by Keras: not in model.variables, so neither trained nor saved",
                EXCLUDED: "missing from trainable_variables (an override leaves it out?)",
                FROZEN: "frozen (deliberate)", NOT_TRAINABLE: "not trained (trainable=False)",
                NOT_DIFFERENTIABLE: "integer dtype: not differentiable",
                UNKNOWN: "not known: the forward pass failed",
                TRAINS: "trains" + (" (zero gradient)" if self.gradient == GRADIENT_ZERO else "")}[verdict]

    @property
    def problems(self) -> list[str]:
        """Why this variable will not train, for a variable meant to and failing; empty otherwise."""
        return [self.detail] if self.verdict in FAILING_VERDICTS else []

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict) -> VariableStatus:
        fields = {k: v for k, v in data.items() if k not in ("verdict", "detail")}
        cut = fields.get("cut")
        return cls(**{**fields, "cut": CutSite(**cut) if cut else None})


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
    loss: str = "a fixed random projection of the outputs"  # what the probe differentiated, in words

    @property
    def failures(self) -> list[str]:
        return [f"{v.label}: {', '.join(v.problems)}" for v in self.variables if v.problems] + self.model_failures

    @property
    def warnings(self) -> list[str]:
        """Variables that get no gradient because the loss does not use them: a failure only under --strict."""
        return [f"{v.label}: {v.detail}" for v in self.variables if v.verdict == UNUSED]

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
        return {**asdict(self), "variables": [v.to_dict() for v in self.variables]}

    @classmethod
    def from_dict(cls, data: dict) -> GradientReport:
        output = data.get("output")
        return cls(**{**data, "variables": [VariableStatus.from_dict(v) for v in data["variables"]],
                      "output": OutputDigest(**output) if output else None})


@dataclass
class TapeCall:
    """Calls of `GradientTape.gradient` from one place with the same outcome. Inside tf.function (fit, custom
    train steps) the call happens once per trace; which gradients are None is decided then."""

    location: str
    in_function: bool
    sources: int
    none_variables: list[str]  # trainable variables asked for whose gradient was None
    calls: int = 1
    none_tensors: list[str] = field(default_factory=list)  # float tensor sources whose gradient was None, as written
    unread_variables: list[str] = field(default_factory=list)  # of none_variables: never read while taped
    cuts: dict[str, CutSite] = field(default_factory=dict)  # source → the first cut point its path reaches

    @property
    def ok(self) -> bool:
        return not (self.none_variables or self.none_tensors)

    @property
    def depends_on_none(self) -> bool:
        """Every source is a variable that got None: the step trains nothing (Keras' optimizers then raise "No
        gradients provided"), so its loss was computed before the tape started (GF403) or cut — not an unused
        part, which a call that trains the rest has."""
        return bool(self.none_variables) and len(self.none_variables) == self.sources

    def cut_of(self, name: str) -> CutSite | None:
        """Where the path from the variable `name` to the loss is cut: the first cut point recorded on it, else this
        call itself when its loss depends on none of its variables."""
        if name in self.cuts:
            return self.cuts[name]
        return CutSite(self.location, NO_DEPENDENCE) if self.depends_on_none else None

    def failures(self, judged: set[str]) -> list[str]:
        """Nones that fail: every tensor source, and every variable the tape read whose path was cut — except the
        variables in `judged`, whose rows (with this call's facts attached) speak for them."""
        found = [f"{self.location}: tape.gradient returned None for {name}; cut at {self.cut_of(name)}"
                 for name in self.none_variables if name not in judged and self.cut_of(name)]
        if self.none_tensors:
            found.append(f"{self.location}: tape.gradient returned None for {', '.join(self.none_tensors)}: a "
                         "tensor gets a gradient only when the tape watches it (tape.watch) and the target depends "
                         "on it")
        return found

    def warnings(self, judged: set[str]) -> list[str]:
        unused = [n for n in self.none_variables if n not in judged and not self.cut_of(n)]
        return [f"{self.location}: tape.gradient returned None for {', '.join(unused)}: the target does not "
                "depend on them (unused)"] if unused else []

    @classmethod
    def from_dict(cls, data: dict) -> TapeCall:
        return cls(**{**data, "cuts": {name: CutSite(**site) for name, site in data.get("cuts", {}).items()}})


def attach_tape_calls(reports: list[GradientReport], tape_calls: list[TapeCall]) -> None:
    """Give each probed variable the outcome of the target's own `tape.gradient` calls: the probe's loss may
    reach a weight that the script's loss does not."""
    rows: dict[str, list[VariableStatus]] = {}
    for report in reports:
        for variable in report.variables:
            rows.setdefault(variable.name, []).append(variable)
    for call in tape_calls:
        for name in call.none_variables:
            for row in rows.get(name, []):
                row.script_none = row.script_none or call.location
                read = name not in call.unread_variables
                row.script_read = row.script_read and read
                row.cut = row.cut or call.cut_of(name)


def judged_names(reports: list[GradientReport]) -> set[str]:
    return {v.name for report in reports for v in report.variables}
