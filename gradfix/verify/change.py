"""`gradfix apply --verify`: prove a change as it will be applied, before writing it.

The changed files that import one another form one change. Each of its files that can be run — its factory
(configured in `[tool.gradfix.verify]` or by convention: `make`, `build_model`, `get_model`, `create_model`), else
the file as a script — is verified on the originals, then with *every* file of the change patched (see `overlay`),
with the same seed. The change is written when no target got worse and at least one got better; a change that
makes nothing better is ineffective and left out. Unsafe fixes are tried on top and kept only on strictly better
evidence (`judge_unsafe`)."""

from __future__ import annotations

import ast
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Callable, Mapping

from gradfix.verify.report import TRAINS
from gradfix.verify.runner import VerifyOutcome, run_verify

CONVENTIONAL_FACTORIES = ("make", "build_model", "get_model", "create_model")
DEFAULT_TOLERANCE = 1e-4  # forward outputs may differ by this much, relative to their largest value (min 1)


class Verdict(str, Enum):
    IMPROVES = "improves"
    HARMS = "harms"
    INEFFECTIVE = "ineffective"
    NOT_VERIFIED = "not verified"


@dataclass
class Comparison:
    """One target verified before and after."""

    target: str  # as shown: `train.py`, `model.py::make`
    before: VerifyOutcome
    after: VerifyOutcome
    verdict: Verdict
    reason: str
    max_abs_diff: float | None  # None: the forward outputs could not both be computed

    def summary(self) -> str:
        """`model.py: 0/2 → 2/2 variables get gradients; forward max |Δ| 0.0`."""
        if self.verdict is Verdict.NOT_VERIFIED:
            return f"{self.target}: not verified: {self.reason}"
        forward = "forward not compared" if self.max_abs_diff is None else \
            f"forward max |Δ| {float(f'{self.max_abs_diff:.3g}')}"  # 3 significant digits, 0 as 0.0
        return (f"{self.target}: {_gradients_text(self.before)} → {_gradients_text(self.after)} variables get "
                f"gradients; {forward}")


def _gradients_text(outcome: VerifyOutcome) -> str:
    trained, meant = outcome.gradient_counts
    return f"{trained}/{meant}" + (" (did not finish)" if outcome.error else "")


def judge(target: str, before: VerifyOutcome, after: VerifyOutcome, tolerance: float = DEFAULT_TOLERANCE
          ) -> Comparison:
    """Harms: the patched version fails where the original ran, computes a different forward output, or fewer
    variables train. Improves: it runs where the original did not, more variables train, or fewer failures are
    left. Else ineffective. Not verified when neither version runs."""
    diff, allowed = _forward_diff(before, after, tolerance)
    (trained_before, _), (trained_after, _) = before.gradient_counts, after.gradient_counts
    if before.error and after.error and not before.failures:
        return Comparison(target, before, after, Verdict.NOT_VERIFIED, f"the original does not run either: "
                                                                       f"{before.error}", diff)
    if after.error and not before.error:
        verdict, reason = Verdict.HARMS, f"the patched version fails to run: {after.error}"
    elif diff is not None and diff > allowed:
        verdict, reason = Verdict.HARMS, f"the forward output changed (max |Δ| {diff:.3g} > {allowed:.3g})"
    elif trained_after < trained_before:
        verdict, reason = Verdict.HARMS, f"fewer variables train ({trained_before} → {trained_after})"
    elif (before.error and not after.error) or trained_after > trained_before \
            or len(after.failures) < len(before.failures):
        verdict, reason = Verdict.IMPROVES, "gets better, runs as before, computes the same output"
    else:
        verdict, reason = Verdict.INEFFECTIVE, \
            f"ineffective: nothing gets better ({_gradients_text(before)} → {_gradients_text(after)})"
    return Comparison(target, before, after, verdict, reason, diff)


def judge_unsafe(target: str, reference: VerifyOutcome, after: VerifyOutcome,
                 tolerance: float = DEFAULT_TOLERANCE) -> Comparison:
    """Unsafe fixes on top of `reference` (the safe fixes, or the original): they improve only when the result
    runs, computes the same forward output, and the weights getting gradients are a strict superset."""
    diff, allowed = _forward_diff(reference, after, tolerance)
    gained, lost = training_weights(after) - training_weights(reference), \
        training_weights(reference) - training_weights(after)
    if after.error and not reference.error:
        verdict, reason = Verdict.HARMS, f"the patched version fails to run: {after.error}"
    elif diff is None or diff > allowed:
        verdict, reason = Verdict.HARMS, "the forward output is not shown to be the same" if diff is None else \
            f"the forward output changed (max |Δ| {diff:.3g} > {allowed:.3g})"
    elif lost:
        verdict, reason = Verdict.HARMS, f"fewer weights get gradients: {', '.join(sorted(lost))}"
    elif gained:
        verdict, reason = Verdict.IMPROVES, f"more weights get gradients: {', '.join(sorted(gained))}"
    else:
        verdict, reason = Verdict.INEFFECTIVE, "no more weights get gradients"
    return Comparison(target, reference, after, verdict, reason, diff)


def _forward_diff(before: VerifyOutcome, after: VerifyOutcome, tolerance: float) -> tuple[float | None, float]:
    digests = (before.forward_output, after.forward_output)
    if None in digests:
        return None, math.inf
    return digests[0].max_abs_diff(digests[1]), tolerance * max(1.0, digests[0].max_abs())


def training_weights(outcome: VerifyOutcome) -> set[str]:
    """The weights that will train (their verdict), by model and attribute path: the same weight keeps its path
    when a fix changes how it is tracked (a bare tf.Variable made an add_weight), where its Keras name appears."""
    return {f"{report.model} {v.path}" for report in outcome.models for v in report.variables
            if v.verdict == TRAINS}


@dataclass
class ChangeResult:
    """One change (files that import one another) and what verify found."""

    files: list[Path]
    comparisons: list[Comparison] = field(default_factory=list)
    keep: bool = True
    reason: str = ""
    proven: bool = False  # kept because verify showed it better (not merely because nothing could run)

    def lines(self) -> list[str]:
        """What `apply --verify` prints: one line per target; for a change of several files, the files first."""
        names = [path.name for path in self.files]
        if not self.comparisons:
            return [f"{' + '.join(names)}: not verified: {self.reason}"]
        if len(self.files) == 1 and len(self.comparisons) == 1:
            line = self.comparisons[0].summary()
            return [line if self.keep else f"{line}; left unpatched: {self.reason}"]
        lines = [f"{' + '.join(names)}, verified as one change:"]
        lines += [f"  {comparison.summary()}" for comparison in self.comparisons]
        return lines if self.keep else [*lines, f"  left unpatched: {self.reason}"]


def decide(files: list[Path], comparisons: list[Comparison]) -> ChangeResult:
    """Keep a change when no target is harmed and one improves; unverifiable changes are kept, as without
    --verify."""
    judged = [c for c in comparisons if c.verdict is not Verdict.NOT_VERIFIED]
    harmed = [c for c in judged if c.verdict is Verdict.HARMS]
    if not judged:
        return ChangeResult(files, comparisons, True, "no target could run")
    if harmed:
        reason = harmed[0].reason if len(comparisons) == 1 else f"{harmed[0].target}: {harmed[0].reason}"
        return ChangeResult(files, comparisons, False, reason)
    if not any(c.verdict is Verdict.IMPROVES for c in judged):
        reason = judged[0].reason if len(judged) == 1 else "ineffective: no target gets better"
        return ChangeResult(files, comparisons, False, reason)
    return ChangeResult(files, comparisons, True, "verified", proven=True)


def verify_target(path: Path, source: str, factories: Mapping[str, str], root: Path | None) -> str | None:
    """How to run a changed file: its configured factory, else a conventional one it defines, else the file
    itself when running it does something; None when it cannot be run."""
    factory = configured_factory(path, factories, root) or conventional_factory(source)
    if factory:
        return f"{path}::{factory}"
    return str(path) if is_runnable_script(source) else None


def configured_factory(path: Path, factories: Mapping[str, str], root: Path | None) -> str | None:
    """The factory configured for `path` in `[tool.gradfix.verify]` (`"models/net.py" = "make_model"`, paths
    relative to the pyproject.toml's folder)."""
    resolved = Path(path).resolve()
    for relative, factory in factories.items():
        if (Path(root or ".") / relative).resolve() == resolved:
            return factory
    return None


def conventional_factory(source: str) -> str | None:
    """The first of CONVENTIONAL_FACTORIES defined at the top level and callable without arguments."""
    defined = {node.name: node for node in _body(source) if isinstance(node, ast.FunctionDef)}
    for name in CONVENTIONAL_FACTORIES:
        arguments = defined[name].args if name in defined else None
        if arguments and len(arguments.defaults) == len(arguments.posonlyargs + arguments.args) \
                and None not in arguments.kw_defaults:
            return name
    return None


def is_runnable_script(source: str) -> bool:
    """True when running the file does something: any top-level statement other than imports, definitions,
    docstrings and assignments without calls (a `__main__` block counts). A module of definitions alone builds
    no model to verify."""
    body = _body(source)
    return bool(body) and not all(_is_quiet(node) for node in body)


def _body(source: str) -> list[ast.stmt]:
    try:
        return ast.parse(source).body
    except SyntaxError:
        return []


def _is_quiet(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Pass)):
        return True
    if isinstance(node, ast.Expr):
        return isinstance(node.value, ast.Constant)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        return not any(isinstance(n, ast.Call) for n in ast.walk(node))
    return False


def group_changes(sources: Mapping[Path, str]) -> list[list[Path]]:
    """The changed files (with their original sources) in groups that import one another, directly or through
    other changed files; in the order given. An import is matched by module name against each file's path
    (`model` → …/model.py, `pkg.net` → …/pkg/net.py) or, when relative, by the file it names."""
    paths = [Path(path).resolve() for path in sources]
    group_of = {path: index for index, path in enumerate(paths)}

    def merge(a: Path, b: Path) -> None:
        old, new = group_of[a], group_of[b]
        for path, group in group_of.items():
            if group == old:
                group_of[path] = new

    for path, source in zip(paths, sources.values()):
        for imported in _imported_files(path, source, paths):
            merge(path, imported)
    groups: dict[int, list[Path]] = {}
    for original, path in zip(sources, paths):
        groups.setdefault(group_of[path], []).append(Path(original))
    return list(groups.values())


def _imported_files(path: Path, source: str, candidates: list[Path]) -> list[Path]:
    names, files = set(), set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: the files it names
            package = path.parents[node.level - 1]
            base = package.joinpath(*node.module.split(".")) if node.module else package
            for target in [base, *(base / alias.name for alias in node.names)]:
                files.update({target.with_suffix(".py"), target / "__init__.py"})
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return [candidate for candidate in candidates if candidate != path
            and (candidate in files or _module_names(candidate) & names)]


def _module_names(path: Path) -> set[str]:
    """`a/b/pkg/net.py` → {"net", "pkg.net", "b.pkg.net", ...}: the names it may be imported by."""
    parts = list(path.with_suffix("").parts[1:])
    if parts and parts[-1] == "__init__":
        parts.pop()
    return {".".join(parts[index:]) for index in range(len(parts))}


def verify_change(files: list[Path], originals: Mapping[Path, str], patched: Mapping[Path, str],
                  target_of: Callable[[Path, str], str | None], run: Callable[..., VerifyOutcome] = run_verify,
                  unsafe: Mapping[Path, str] | None = None) -> tuple[ChangeResult, ChangeResult | None]:
    """Verify one change: each target on the originals and with every file of `patched` in place; with
    `unsafe` (the files as the unsafe fixes leave them, when that differs), also with those, judged by
    `judge_unsafe` against the safe result (or the original, when the safe change is not kept)."""
    targets = [(path, target) for path in files if (target := target_of(path, originals[path]))]
    if not targets:
        return ChangeResult(files, [], True, "no runnable script or factory (make, build_model, get_model, "
                                             "create_model, or one named in [tool.gradfix.verify])"), None
    overlays = [{}, *([patched] if patched else []), *([unsafe] if unsafe is not None else [])]
    jobs = [(target, overlay) for _, target in targets for overlay in overlays]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = iter(pool.map(lambda job: run(job[0], patched=job[1]), jobs))
    runs = [[next(outcomes) for _ in overlays] for _ in targets]  # per target: before, [safe], [unsafe]
    names = [_display(path, target) for path, target in targets]
    safe = decide(files, [judge(name, before, after) for name, (before, after, *_) in zip(names, runs)]) \
        if patched else None
    if unsafe is None:
        return safe, None
    # the unsafe fixes are judged on top of the safe ones where those are kept, else on top of the original
    reference = 1 if safe is not None and safe.proven else 0
    return safe, decide(files, [judge_unsafe(name, outcomes[reference], outcomes[-1])
                                for name, outcomes in zip(names, runs)])


def _display(path: Path, target: str) -> str:
    return path.name + (f"::{target.rpartition('::')[2]}" if "::" in target else "")
