"""The static finding that explains a cut: gradfix's own check of the files the cut points lie in, matched by
line. Runs in the verify parent, without TensorFlow, like every static check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from gradfix.config import Config, ConfigError, load_config
from gradfix.engine import Diagnostic
from gradfix.runner import RunOptions, run
from gradfix.source import SourceText
from gradfix.verify.report import CutSite

if TYPE_CHECKING:
    from gradfix.verify.runner import VerifyOutcome


def explain_cuts(outcome: VerifyOutcome, cwd: Path, patched: Mapping[Path, str] | None = None) -> VerifyOutcome:
    """Set `finding` on every cut site of `outcome` (rows and tape calls) that a static finding explains. A file
    in `patched` ran with that text (see `overlay`), so that text is what is checked."""
    sites = [v.cut for v in outcome.variables if v.cut] + [site for call in outcome.tape_calls
                                                            for site in call.cuts.values()]
    by_file: dict[Path, list[CutSite]] = {}
    for site in sites:
        file, _, line = site.location.rpartition(":")
        path = (cwd / file).resolve()
        if line.isdigit() and path.suffix == ".py" and path.is_file():
            by_file.setdefault(path, []).append(site)
    if not by_file:
        return outcome
    findings: dict[tuple[Path, int], list[Diagnostic]] = {}
    texts = {Path(path).resolve(): text for path, text in (patched or {}).items()}
    sources = {path: SourceText(texts[path]) if path in texts else SourceText.from_bytes(path.read_bytes())
               for path in by_file} if texts.keys() & by_file.keys() else None
    for diagnostic in run(list(by_file), RunOptions(jobs=1), _config(next(iter(by_file))), sources).diagnostics:
        findings.setdefault((Path(diagnostic.path).resolve(), diagnostic.line), []).append(diagnostic)
    for path, file_sites in by_file.items():
        for site in file_sites:
            on_line = findings.get((path, int(site.location.rpartition(":")[2])), [])
            if on_line:
                best = min(on_line, key=lambda d: (not _names_the_same_call(site, d), d.col))
                site.finding = f"{best.code} at {site.location}:{best.col}: {best.message}"
    return outcome


def _config(path: Path) -> Config:
    try:
        return load_config(path.parent)
    except ConfigError:
        return Config()


def _names_the_same_call(site: CutSite, diagnostic: Diagnostic) -> bool:
    """`np.dot on a tensor` is best explained by the finding about `np.dot()`, `.numpy() on ...` by `.numpy()`."""
    called = site.what.split(" on ")[0].split(" (")[0]
    return diagnostic.message.lstrip("`").startswith(called)
