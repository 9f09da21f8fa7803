"""Run verify in a subprocess (user code never runs in the gradfix process) and judge the result; compare an
original file with its patched version for `gradfix apply --verify`."""

from __future__ import annotations

import ast
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from gradfix.verify.explain import explain_cuts
from gradfix.verify.report import (TRAINS, UNUSED, GradientReport, OutputDigest, TapeCall, VariableStatus,
                                   attach_tape_calls, judged_names)
from gradfix.verify.targets import TargetError, check_target

KERAS_CHOICES = ("auto", "3", "2")
DEFAULT_TIMEOUT = 300.0
DEFAULT_TOLERANCE = 1e-4  # forward outputs may differ by this much, relative to their largest value (min 1)
_GRADFIX_ROOT = str(Path(__file__).resolve().parents[2])
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
               seed: int = 0) -> VerifyOutcome:
    """Run the target in `python -m gradfix.verify.child`, in its own process group (a timeout kills all of it);
    the result comes back through a file because the target owns stdout and stderr."""
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
        command = [sys.executable, "-m", "gradfix.verify.child", target, "--result", str(result), "--seed",
                   str(seed)]
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
    return explain_cuts(outcome, cwd)


def _child_env(keras: str) -> dict[str, str]:
    env = dict(os.environ)
    if keras != "auto":  # tf.keras is tf_keras when this is set before TensorFlow is imported
        env["TF_USE_LEGACY_KERAS"] = "1" if keras == "2" else "0"
    # gradfix must import in the child even when it is not installed; after the user's own paths
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), _GRADFIX_ROOT) if p)
    return env


def _tail(log: Path) -> str:
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(lines[-_OUTPUT_TAIL_LINES:])


@dataclass
class Comparison:
    path: Path
    before: VerifyOutcome
    after: VerifyOutcome
    keep_patch: bool
    reason: str
    max_abs_diff: float | None  # None: the forward outputs could not both be computed

    def summary(self) -> str:
        """`model.py: 0/2 → 2/2 variables get gradients; forward max |Δ| 0.0`, and why a patch is left out."""
        forward = "forward not compared" if self.max_abs_diff is None else \
            f"forward max |Δ| {float(f'{self.max_abs_diff:.3g}')}"  # 3 significant digits, 0 as 0.0
        line = (f"{self.path.name}: {_gradients_text(self.before)} → {_gradients_text(self.after)} variables get "
                f"gradients; {forward}")
        return line if self.keep_patch else f"{line}; left unpatched: {self.reason}"


def _gradients_text(outcome: VerifyOutcome) -> str:
    trained, meant = outcome.gradient_counts
    return f"{trained}/{meant}" + (" (did not finish)" if outcome.error else "")


def compare(original: Path, patched_source: str, *, factory: str | None = None, keras: str = "auto",
            timeout: float = DEFAULT_TIMEOUT, cwd: Path | None = None, seed: int = 0,
            tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Verify the original and the patched source side by side, with the same seed and the same cwd.

    The patched file is written into a temporary folder that mirrors the original's folder with symlinks, so
    sibling imports and relative data resolve as for the original, whatever the folder's size."""
    original = Path(original).resolve()
    with tempfile.TemporaryDirectory(prefix="gradfix-compare-") as scratch:
        patched = _mirror_folder(original, Path(scratch)) / original.name
        patched.write_text(patched_source, encoding="utf-8")
        targets = [f"{path}::{factory}" if factory else str(path) for path in (original, patched)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            before, after = pool.map(
                lambda target: run_verify(target, keras=keras, timeout=timeout, cwd=cwd, seed=seed), targets)
        if after.error:  # name the user's file, not its temporary copy
            after.error = after.error.replace(str(patched), str(original))
    return judge(original, before, after, tolerance)


def _mirror_folder(original: Path, scratch: Path) -> Path:
    mirror = scratch / (original.parent.name or "root")
    mirror.mkdir()
    for entry in original.parent.iterdir():
        if entry.name != original.name:
            (mirror / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    return mirror


def judge(path: Path, before: VerifyOutcome, after: VerifyOutcome, tolerance: float = DEFAULT_TOLERANCE
          ) -> Comparison:
    """Keep the patch unless the patched version fails where the original ran, computes a different forward
    output, or leaves fewer variables training."""
    digests = (before.forward_output, after.forward_output)
    diff = digests[0].max_abs_diff(digests[1]) if None not in digests else None
    allowed = tolerance * max(1.0, digests[0].max_abs()) if diff is not None else math.inf
    (trained_before, _), (trained_after, _) = before.gradient_counts, after.gradient_counts
    if after.error and not before.error:
        keep, reason = False, f"the patched version fails to run: {after.error}"
    elif diff is not None and diff > allowed:
        keep, reason = False, f"the forward output changed (max |Δ| {diff:.3g} > {allowed:.3g})"
    elif trained_after < trained_before:
        keep, reason = False, f"fewer variables train ({trained_before} → {trained_after})"
    else:
        keep, reason = True, "runs as before, computes the same output, no fewer variables train"
    return Comparison(path, before, after, keep, reason, diff)


def factory_for(path: Path, factories: Mapping[str, str], root: Path | None) -> str | None:
    """The factory configured for `path` in `[tool.gradfix.verify]` (`"models/net.py" = "make_model"`, paths
    relative to the pyproject.toml's folder)."""
    resolved = Path(path).resolve()
    for relative, factory in factories.items():
        if (Path(root or ".") / relative).resolve() == resolved:
            return factory
    return None


def is_runnable_script(source: str) -> bool:
    """True when running the file does something: any top-level statement other than imports, definitions,
    docstrings and assignments without calls (a `__main__` block counts). A module of definitions alone builds
    no model to verify."""
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return False
    return not all(_is_quiet(node) for node in body)


def _is_quiet(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return not any(isinstance(n, ast.Call) for n in ast.walk(node))
    return False
