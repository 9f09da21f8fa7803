"""The `gradfix` command line. Static verbs never import TensorFlow; only `verify` runs it, in a subprocess."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from gradfix import __version__
from gradfix.config import Config, ConfigError, load_config
from gradfix.docs import explain_text, rules_table
from gradfix.interactive import review, terminal_progress
from gradfix.notebook import file_diff, readable_diff, source_from_bytes
from gradfix.output import FORMATS, MACHINE_FORMATS, fails_check, render
from gradfix.patch import AppliedFile, UndoError, atomic_write, save_undo_record, sha256, undo_last_apply
from gradfix.rules import all_rules
from gradfix.runner import RunOptions, RunReport, run
from gradfix.source import SourceError
from gradfix.verify.cli import register as register_verify

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find and repair TensorFlow/Keras code in which gradients silently stop flowing.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradfix {__version__}")
        raise typer.Exit()


@app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Show the version and exit.")) -> None:
    pass


def _codes(values: Optional[List[str]]) -> list[str]:
    return [c.strip().upper() for v in values or [] for c in v.split(",") if c.strip()]


def _error(path: str, reason: str) -> None:
    typer.echo(f"{path}: error: {reason}", err=True)


def _config_for(paths: list[Path], stdin_filename: Optional[Path]) -> Config:
    start = stdin_filename or (paths[0] if paths else Path.cwd())
    try:
        return load_config(start if start.exists() else Path.cwd())
    except ConfigError as exc:
        _error("config", str(exc))
        raise typer.Exit(EXIT_ERROR)


def _run(paths: list[Path], stdin_filename: Optional[Path], options: RunOptions) -> tuple[RunReport, bool, Config]:
    """Run on files, or on stdin when the only path is `-`. Returns the report, whether stdin was used and
    the configuration in force."""
    paths = paths or []
    from_stdin = [str(p) for p in paths] == ["-"]
    config = _config_for([] if from_stdin else paths, stdin_filename)
    sources = None
    if from_stdin:
        name = stdin_filename or Path("<stdin>")
        try:
            sources = {name: source_from_bytes(name, sys.stdin.buffer.read())}
        except SourceError as exc:
            _error(str(name), str(exc))
            raise typer.Exit(EXIT_ERROR)
    try:
        report = run(paths, options, config, sources=sources)
    except ValueError as exc:  # unknown rule codes
        _error("gradfix", str(exc))
        raise typer.Exit(EXIT_ERROR)
    for path, reason in report.errors:
        _error(path, reason)
    return report, from_stdin, config


PATHS = typer.Argument(None, help="Files or folders; `-` reads one file from stdin. None: nothing to do (pre-commit).")
SELECT = typer.Option(None, "--select", help="Only these rule codes or prefixes (comma-separated).")
IGNORE = typer.Option(None, "--ignore", help="Skip these rule codes or prefixes (comma-separated).")
FORMAT = typer.Option("text", "--output-format", help=f"One of: {', '.join(FORMATS)}.")
STDIN_NAME = typer.Option(None, "--stdin-filename", help="Path that stdin stands for (config, messages).")
JOBS = typer.Option(0, "--jobs", "-j", help="Worker processes (0: all cores).")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write the result cache (.gradfix/cache).")


def _check_format(output_format: str) -> None:
    if output_format not in FORMATS:
        _error("gradfix", f"unknown output format {output_format!r}; choose from {', '.join(FORMATS)}")
        raise typer.Exit(EXIT_ERROR)


@app.command()
def check(paths: List[Path] = PATHS, select: Optional[List[str]] = SELECT, ignore: Optional[List[str]] = IGNORE,
          output_format: str = FORMAT, stdin_filename: Optional[Path] = STDIN_NAME, jobs: int = JOBS,
          no_cache: bool = NO_CACHE) -> None:
    """Report findings; exit 0 when clean (or info only), 1 with errors or warnings, 2 on errors."""
    _check_format(output_format)
    report, _, _ = _run(paths, stdin_filename, RunOptions(select=_codes(select), ignore=_codes(ignore), jobs=jobs,
                                                       progress=terminal_progress(), cache=not no_cache))
    diagnostics = report.diagnostics
    rendered = render(diagnostics, output_format)
    if rendered:
        typer.echo(rendered)
    raise typer.Exit(EXIT_ERROR if report.errors else EXIT_FINDINGS if fails_check(diagnostics) else EXIT_CLEAN)


@app.command()
def apply(paths: List[Path] = PATHS,
          dry_run: bool = typer.Option(False, "--dry-run", "--diff", help="Print the unified diff; write nothing."),
          unsafe_fixes: Optional[bool] = typer.Option(None, "--unsafe-fixes/--no-unsafe-fixes",
                                                      help="Also apply fixes marked unsafe (default: the config's)."),
          select: Optional[List[str]] = SELECT, ignore: Optional[List[str]] = IGNORE,
          output_format: str = FORMAT, stdin_filename: Optional[Path] = STDIN_NAME, jobs: int = JOBS,
          interactive: bool = typer.Option(False, "--interactive", "-i",
                                           help="Show each hunk and apply only those you accept."),
          verify: bool = typer.Option(False, "--verify",
                                      help="Run each changed script (or its [tool.gradfix.verify] factory) before "
                                           "and after the fix; keep the fix only if it runs and computes the same."),
          no_cache: bool = NO_CACHE) -> None:
    """Rewrite files in place with the fixes (stdout: the diff with --dry-run, the fixed source with `-`)."""
    _check_format(output_format)
    options = RunOptions(select=_codes(select), ignore=_codes(ignore), unsafe_fixes=unsafe_fixes, fix=True, jobs=jobs,
                         progress=terminal_progress(), cache=not no_cache)
    if interactive and [str(p) for p in paths or []] == ["-"]:
        _error("apply", "--interactive reads answers from stdin, so it cannot read the source from stdin too")
        raise typer.Exit(EXIT_ERROR)
    report, from_stdin, config = _run(paths, stdin_filename, options)
    changed = [r for r in report.results if r.changed]
    if interactive:
        changed = review(changed)
    if verify and not dry_run and not from_stdin:
        changed = _keep_verified(changed, config)
    written = True
    if from_stdin:
        result = report.results[0]
        sys.stdout.buffer.write((result.fixed or result.original).to_bytes())
        sys.stdout.flush()
    elif dry_run:
        for result in changed:
            typer.echo(readable_diff(result.path, result.original, result.fixed), nl=False)
    else:
        written = _write(changed)
    remaining = [d for d in report.diagnostics if not d.applied]
    fixed = len(report.diagnostics) - len(remaining)
    if output_format in MACHINE_FORMATS:
        typer.echo(render(remaining, output_format), err=True)
    else:
        if remaining:
            typer.echo(render(remaining, output_format, with_summary=False), err=True)
        verb = "Would fix" if dry_run else "Fixed"
        typer.echo(f"{verb} {fixed} finding{'s' if fixed != 1 else ''} in {len(changed)} "
                   f"file{'s' if len(changed) != 1 else ''}; {len(remaining)} remaining.", err=True)
    raise typer.Exit(EXIT_ERROR if report.errors or not written else EXIT_CLEAN)


def _keep_verified(changed, config: Config):
    """The changed files whose fix survives `verify` before/after (see gradfix.verify.runner.judge); files
    that cannot be run as a script or factory are kept unverified, and said so."""
    from gradfix.verify.runner import compare, factory_for, is_runnable_script

    kept = []
    for result in changed:
        path = Path(result.path)
        factory = factory_for(path, config.verify_factories, config.root)
        if path.suffix != ".py" or not (factory or is_runnable_script(result.original.text)):
            typer.echo(f"{result.path}: not verified: not a runnable script and no factory in "
                       "[tool.gradfix.verify]", err=True)
            kept.append(result)
            continue
        comparison = compare(path, result.fixed.text, factory=factory, keras=config.target_keras)
        typer.echo(comparison.summary(), err=True)
        if comparison.keep_patch:
            kept.append(result)
        else:
            result.diagnostics = [replace(d, applied=False) for d in result.diagnostics]
    return kept


def _write(changed) -> bool:
    """Write every changed file atomically and record the patch so `gradfix undo` can revert it. A file that
    changed (or went) since it was read is not written: an edit saved meanwhile must not be overwritten.
    False when some file was not written (each said in one line)."""
    applied, patches = [], []
    for result in changed:
        data = result.fixed.to_bytes()
        try:
            if Path(result.path).read_bytes() != result.original.to_bytes():
                _error(result.path, "not written: the file changed while gradfix ran")
                continue
            atomic_write(Path(result.path), data)
        except OSError as exc:
            _error(result.path, f"not written: {exc.strerror or exc}")
            continue
        patches.append(file_diff(result.path, result.original, result.fixed))
        applied.append(AppliedFile(path=str(Path(result.path).resolve()), display=result.path,
                                   encoding=result.original.encoding, bom=result.original.bom,
                                   before_sha=sha256(result.original.to_bytes()), after_sha=sha256(data)))
    if applied:
        save_undo_record(applied, "".join(patches))
    return len(applied) == len(changed)


@app.command()
def undo() -> None:
    """Revert the last `gradfix apply` run from this folder, exactly; refuse if a file changed since."""
    try:
        restored = undo_last_apply()
    except UndoError as exc:
        _error("undo", str(exc))
        raise typer.Exit(EXIT_ERROR)
    for path in restored:
        typer.echo(f"restored {path}")


@app.command("rules")
def list_rules() -> None:
    """List every rule: code, name, severity (error / warning / info), fix (safe / unsafe / none), summary."""
    typer.echo(rules_table(list(all_rules().values())))


@app.command()
def explain(code: str = typer.Argument(..., help="A rule code, e.g. GF101.")) -> None:
    """Why the rule's pattern breaks gradients, what the fix does, and an example."""
    rule = all_rules().get(code.strip().upper())
    if rule is None:
        _error("explain", f"unknown rule code {code!r}; see `gradfix rules`")
        raise typer.Exit(EXIT_ERROR)
    typer.echo(explain_text(rule))


register_verify(app)


def main() -> None:
    app()
