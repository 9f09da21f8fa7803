"""Run verify in a subprocess (user code never runs in the gradfix process) and judge the result."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from gradfix.verify.bundle import write_child
from gradfix.verify.explain import explain_cuts
from gradfix.verify.report import (TRAINS, UNUSED, GradientReport, OutputDigest, TapeCall, VariableStatus,
                                   attach_tape_calls, judged_names)
from gradfix.verify.targets import TargetError, check_target

KERAS_CHOICES = ("auto", "3", "2")
DEFAULT_TIMEOUT = 300.0
_OUTPUT_TAIL_LINES = 40


@dataclass
class VerifyOutcome:
    target: str
    error: str | None = None  # why the target could not run (or stopped), one line
    keras: str | None = None  # the Keras the target used, e.g. "keras 3.15.1"
    models: list[GradientReport] = field(default_factory=list)
    tape_calls: list[TapeCall] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    output: str = ""  # the end of what the target printed
    strict: bool = False  # unused variables fail too

    def __post_init__(self) -> None:
        attach_tape_calls(self.models, self.tape_calls)

    @property
    def variables(self) -> list[VariableStatus]:
        return [v for report in self.models for v in report.variables]

    @property
    def failures(self) -> list[str]:
        """Every reason gradients do not flow: from the probes and from the target's own tape calls (whose Nones
        for probed variables are part of those variables' verdicts)."""
        judged = judged_names(self.models)
        found = [f"{report.model}: {failure}" for report in self.models for failure in report.failures]
        found += [failure for call in self.tape_calls for failure in call.failures(judged)]
        return found + (self.warnings if self.strict else [])

    @property
    def warnings(self) -> list[str]:
        """Variables without gradient that the loss does not use (unused): failures under --strict."""
        judged = judged_names(self.models)
        return ([f"{report.model}: {warning}" for report in self.models for warning in report.warnings]
                + [warning for call in self.tape_calls for warning in call.warnings(judged)])

    @property
    def failing_variables(self) -> set[str]:
        judged = judged_names(self.models)
        return ({v.label for v in self.variables if v.problems or (self.strict and v.verdict == UNUSED)}
                | {name for call in self.tape_calls if call.failures(judged) for name in call.none_variables
                   if name not in judged})

    @property
    def exit_code(self) -> int:
        """1 when gradients do not flow (also when the target then crashed: the failure is the finding),
        2 when the target could not run and nothing was found, else 0."""
        if self.failures:
            return 1
        return 2 if self.error else 0

    @property
    def gradient_counts(self) -> tuple[int, int]:
        """(variables that will train, variables meant to train)."""
        meant = [v for v in self.variables if v.meant_to_train]
        return sum(v.verdict == TRAINS for v in meant), len(meant)

    @property
    def forward_output(self) -> OutputDigest | None:
        digests = [report.output for report in self.models]
        return OutputDigest.concat(digests) if digests and None not in digests else None

    def to_dict(self) -> dict:
        return {**asdict(self), "models": [report.to_dict() for report in self.models], "exit_code": self.exit_code,
                "failures": self.failures, "warnings": self.warnings,
                "failing_variables": sorted(self.failing_variables)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, target: str, data: dict, output: str = "") -> VerifyOutcome:
        return cls(target=target, error=data["error"], keras=data["keras"],
                   models=[GradientReport.from_dict(m) for m in data["models"]],
                   tape_calls=[TapeCall.from_dict(call) for call in data["tape_calls"]],
                   timings=data["timings"], output=output)

    def __rich__(self):
        from gradfix.verify.render import outcome_renderable

        return outcome_renderable(self)


def run_verify(target: str, *, keras: str = "auto", timeout: float = DEFAULT_TIMEOUT, cwd: Path | None = None,
               seed: int = 0, python: str | None = None, patched: Mapping[Path, str] | None = None) -> VerifyOutcome:
    """Run the target in the verify child (see `bundle`) with `python` (default: this interpreter), in its own
    process group (a timeout kills all of it); the result comes back through a file because the target owns
    stdout and stderr. `patched` maps files to the source they are run with instead (see `overlay`)."""
    if keras not in KERAS_CHOICES:
        raise ValueError(f"keras must be one of {', '.join(KERAS_CHOICES)}, not {keras!r}")
    cwd = Path(cwd or os.getcwd())
    try:
        check_target(target, cwd)
    except TargetError as exc:
        return VerifyOutcome(target, error=str(exc))
    with tempfile.TemporaryDirectory(prefix="gradfix-verify-") as scratch:
        result, log = Path(scratch, "result.json"), Path(scratch, "output.log")
        timed_out = False
        command = [python or sys.executable, str(write_child(Path(scratch))), target, "--result", str(result),
                   "--seed", str(seed)]
        if patched:
            overlay = Path(scratch, "overlay.json")
            overlay.write_text(json.dumps({str(Path(path).resolve()): text for path, text in patched.items()}),
                               encoding="utf-8")
            command += ["--overlay", str(overlay)]
        with log.open("wb") as log_file:
            child = subprocess.Popen(command, cwd=cwd, env=_child_env(keras), stdin=subprocess.DEVNULL,
                                     stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            finally:  # also on Ctrl-C: the child's own session does not get the terminal's SIGINT
                if child.returncode is None:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
                    timed_out = True
        output = _tail(log)
        if timed_out:
            return VerifyOutcome(target, error=f"timed out after {timeout:g} s", output=output)
        if not result.is_file():  # killed, or died in the interpreter itself
            last = output.strip().splitlines()[-1:] or [f"the verify process exited with status {child.returncode}"]
            return VerifyOutcome(target, error=last[0], output=output)
        outcome = VerifyOutcome.from_dict(target, json.loads(result.read_text(encoding="utf-8")), output)
    return explain_cuts(outcome, cwd, patched)


def find_python(text: str, base: Path | None) -> str:
    """The interpreter `--python` or `[tool.gradfix.verify] python` names: a path (relative ones from `base`: the
    cwd, or the pyproject.toml's folder) or a command on PATH. Symlinks are kept: a venv's python is one."""
    found = str(Path(base or ".") / Path(text).expanduser()) if "/" in text or os.sep in text else shutil.which(text)
    if not found or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise ValueError(f"no Python interpreter at {text}")
    return found


def _child_env(keras: str) -> dict[str, str]:
    env = dict(os.environ)
    if keras != "auto":  # tf.keras is tf_keras when this is set before TensorFlow is imported
        env["TF_USE_LEGACY_KERAS"] = "1" if keras == "2" else "0"
    return env


def _tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-_OUTPUT_TAIL_LINES:])
