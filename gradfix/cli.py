"""The `gradfix` command line. Static verbs never import TensorFlow; only `verify` runs it, in a subprocess.

Importing this module is cheap: each command imports what it uses, since an editor may run `gradfix check FILE`
on every save and every module imported is paid on each run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from typer.core import TyperArgument, TyperOption

from gradfix import __version__
from gradfix.config import Config, ConfigError, ConfigFinder
from gradfix.verify.cli import KerasChoice, register as register_verify

if TYPE_CHECKING:
    from gradfix.runner import RunOptions, RunReport

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Find and repair TensorFlow/Keras code in which gradients silently stop flowing.")


def _type_column(param, ctx) -> str | None:
    """What --help shows beside a parameter: its metavar (PATH, CODES, N) or choices, never the Python type
    typer prints by default (`<bool>` beside every flag, `<list[Path]>` beside the paths)."""
    if isinstance(param, TyperArgument) or param.is_flag:
        return None
    return _typer_type_column(param, ctx)


_typer_type_column = getattr(TyperOption, "display_type_rich", None)  # typer >= 0.29 shows types
if _typer_type_column:
    TyperOption.display_type_rich = TyperArgument.display_type_rich = _type_column


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


def _run(paths: list[Path], stdin_filename: Optional[Path],
         options: RunOptions) -> tuple[RunReport, bool, Config | ConfigFinder]:
    """Run on files (`.` when none is named), or on stdin when the only path is `-`. Each file has the
    configuration nearest to it. Returns the report, whether stdin was used and the configuration(s)."""
    from gradfix.document import read_document
    from gradfix.runner import run
    from gradfix.source import SourceError

    from_stdin = [str(p) for p in paths or []] == ["-"]
    paths = paths or [Path(".")]
    configs = ConfigFinder()
    sources = None
    try:
        if from_stdin:
            name = stdin_filename or Path("<stdin>")
            paths = [name]
            configs = configs.for_path(stdin_filename or Path.cwd() / name)
            try:
                sources = {name: read_document(name, sys.stdin.buffer.read())}
            except SourceError as exc:
                _error(str(name), str(exc))
                raise typer.Exit(EXIT_ERROR)
        report = run(paths, options, configs, sources=sources)
    except ConfigError as exc:
        _error("config", str(exc))
        raise typer.Exit(EXIT_ERROR)
    except ValueError as exc:  # unknown rule codes
        _error("gradfix", str(exc))
        raise typer.Exit(EXIT_ERROR)
    for path, reason in report.skipped:
        typer.echo(f"{path}: {reason}", err=True)
    for path, reason in report.errors:
        _error(path, reason)
    if not report.results and not report.errors:
        typer.echo(f"warning: no Python file or notebook found in {', '.join(map(str, paths))}", err=True)
    return report, from_stdin, configs


PATHS = typer.Argument(None, metavar="PATH", show_default=False,
                       help="Files or folders (default: the current folder); `-` reads one file from stdin.")
SELECT = typer.Option(None, "--select", metavar="CODES", help="Only these rule codes or prefixes (comma-separated).")
IGNORE = typer.Option(None, "--ignore", metavar="CODES", help="Skip these rule codes or prefixes (comma-separated).")
FORMAT = typer.Option("text", "--output-format", metavar="FORMAT",
                      help="text, concise, json, sarif or github (see the README).")
STDIN_NAME = typer.Option(None, "--stdin-filename", metavar="PATH",
                          help="Path that stdin stands for (config, messages).")
JOBS = typer.Option(0, "--jobs", "-j", min=0, metavar="N", help="Worker processes (0: all cores).")
NO_CACHE = typer.Option(False, "--no-cache", help="Neither read nor write the result cache (.gradfix/cache).")
TARGET_KERAS = typer.Option(None, "--target-keras",
                            help="The Keras the code runs on: 2 (tf_keras), 3, or auto (each file's imports and the "
                                 "project's pins); default: \\[tool.gradfix] target-keras.")


def _options(**values) -> RunOptions:
    from gradfix.interactive import terminal_progress
    from gradfix.runner import RunOptions

    target = values.pop("target_keras")
    return RunOptions(select=_codes(values.pop("select")), ignore=_codes(values.pop("ignore")),
                      progress=terminal_progress(), target_keras=target.value if target else None, **values)


def _check_format(output_format: str) -> None:
    from gradfix.output import FORMATS

    if output_format not in FORMATS:
        _error("gradfix", f"unknown output format {output_format!r}; choose from {', '.join(FORMATS)}")
        raise typer.Exit(EXIT_ERROR)


@app.command()
def check(paths: List[Path] = PATHS, select: Optional[List[str]] = SELECT, ignore: Optional[List[str]] = IGNORE,
          output_format: str = FORMAT, stdin_filename: Optional[Path] = STDIN_NAME, jobs: int = JOBS,
          no_cache: bool = NO_CACHE, target_keras: Optional[KerasChoice] = TARGET_KERAS) -> None:
    """Report findings; exit 0 when clean (or info only), 1 with errors or warnings, 2 on errors."""
    from gradfix.output import fails_check, render

    _check_format(output_format)
    report, _, _ = _run(paths, stdin_filename, _options(select=select, ignore=ignore, jobs=jobs, cache=not no_cache,
                                                         target_keras=target_keras))
    diagnostics = report.diagnostics
    rendered = render(diagnostics, output_format, with_summary=bool(diagnostics) or not report.errors)
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
                                           help="Ask about each finding's fix and apply only those you accept."),
          verify: bool = typer.Option(False, "--verify",
                                      help="Run each change (its scripts or factories) before and after the fix; "
                                           "write it only if it gets better, runs and computes the same. Also "
                                           "tries unsafe fixes, kept only when proven better."),
          no_cache: bool = NO_CACHE, target_keras: Optional[KerasChoice] = TARGET_KERAS) -> None:
    """Rewrite files in place with the fixes (stdout: the diff with --dry-run, the fixed source with `-`)."""
    from dataclasses import replace

    from gradfix.interactive import review
    from gradfix.output import MACHINE_FORMATS, render
    from gradfix.rules import FixSafety
    from gradfix.runner import run

    _check_format(output_format)
    options = _options(select=select, ignore=ignore, unsafe_fixes=unsafe_fixes, fix=True, jobs=jobs,
                       cache=not no_cache, target_keras=target_keras)
    if interactive and [str(p) for p in paths or []] == ["-"]:
        _error("apply", "--interactive reads answers from stdin, so it cannot read the source from stdin too")
        raise typer.Exit(EXIT_ERROR)
    report, from_stdin, configs = _run(paths, stdin_filename, options)
    changed = [r for r in report.results if r.changed]
    if interactive:
        changed = review(changed)
    if verify and not dry_run and not from_stdin:
        unsafe_report = None
        if unsafe_fixes is None and not interactive and any(  # tried, kept only when proven
                d.fix_safety is FixSafety.UNSAFE and not configs.for_path(Path(d.path)).unsafe_fixes
                for d in report.diagnostics):
            unsafe_report = run(paths, replace(options, unsafe_fixes=True, progress=None), configs)
        changed = _keep_verified(report, changed, configs, unsafe_report)
    written = True
    if from_stdin:
        result = report.results[0]
        sys.stdout.buffer.write((result.fixed or result.original).to_bytes())
        sys.stdout.flush()
    elif dry_run:
        for result in changed:
            typer.echo(result.original.diff(result.path, result.fixed), nl=False)
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


def _keep_verified(report: RunReport, changed, configs: Config | ConfigFinder,
                   unsafe_report: RunReport | None):
    """The changed files whose change survives `verify` before/after (gradfix.verify.change), with the result of
    the unsafe fixes where verify proved them (their results then replace the safe ones in `report`). Changes
    that cannot be run are kept unverified, and said so."""
    from dataclasses import replace

    from gradfix.rules import FixSafety
    from gradfix.verify.change import group_changes, verify_change, verify_target
    from gradfix.verify.cli import interpreter
    from gradfix.verify.runner import VerifyOutcome, run_verify

    def verify_run(target: str, patched: dict[Path, str]) -> VerifyOutcome:
        config = configs.for_path(Path(target.split("::")[0]))  # file.py::factory or script.py
        return run_verify(target, keras=config.target_keras, python=interpreter(None, config), patched=patched)

    def target_of(path: Path, source: str) -> str | None:
        config = configs.for_path(path)
        return verify_target(path, source, config.verify_factories, config.root)

    safe = {Path(r.path): r for r in changed}
    tried = {Path(r.path): r for r in unsafe_report.results if r.changed} if unsafe_report else {}
    results = {**tried, **safe}
    kept = [r for path, r in safe.items() if path.suffix != ".py"]  # notebooks: verify runs Python files only
    for result in kept:
        typer.echo(f"{result.path}: not verified: only Python files are run", err=True)
    for files in group_changes({p: r.original.text for p, r in results.items() if p.suffix == ".py"}):
        patched = {p: safe[p].fixed.text for p in files if p in safe}
        unsafe = {**patched, **{p: tried[p].fixed.text for p in files if p in tried}}
        originals = {p: results[p].original.text for p in files}
        safe_change, unsafe_change = verify_change(files, originals, patched, target_of, verify_run,
                                                   unsafe if unsafe != patched else None)
        for line in safe_change.lines() if safe_change and patched else []:
            typer.echo(line, err=True)
        if unsafe != patched:
            codes = sorted({d.code for p in files if p in tried for d in tried[p].diagnostics
                            if d.applied and d.fix_safety is FixSafety.UNSAFE})
            _say_unsafe(codes, unsafe_change or safe_change)
        if unsafe_change is not None and unsafe_change.proven:
            chosen = [tried.get(p) or safe[p] for p in files]
            report.results = [r for r in report.results if Path(r.path) not in files] + chosen
            kept += chosen
        elif safe_change is not None and safe_change.keep:
            kept += [safe[p] for p in files if p in safe]
        else:
            for p in (p for p in files if p in safe):
                safe[p].diagnostics = [replace(d, applied=False) for d in safe[p].diagnostics]
    return kept


def _say_unsafe(codes: list[str], change) -> None:
    """Why unsafe fixes (tried because of --verify) are kept or left out."""
    heading = f"unsafe fixes ({', '.join(codes)}) in {' + '.join(p.name for p in change.files)}"
    if change.proven:
        typer.echo(f"{heading}: kept, verified", err=True)
    elif not change.comparisons:
        typer.echo(f"{heading}: left out: cannot be verified: {change.reason}", err=True)
    else:
        typer.echo(f"{heading}: left out: {change.reason}", err=True)
    for comparison in change.comparisons:
        typer.echo(f"  {comparison.summary()}; {comparison.reason}", err=True)


def _write(changed) -> bool:
    """Write every changed file atomically and record the patch so `gradfix undo` can revert it. A file that
    changed (or went) since it was read is not written: an edit saved meanwhile must not be overwritten.
    False when some file was not written (each said in one line)."""
    from gradfix.patch import AppliedFile, atomic_write, save_undo_record, sha256

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
        patches.append(result.original.file_diff(result.path, result.fixed))
        applied.append(AppliedFile(path=str(Path(result.path).resolve()), display=result.path,
                                   encoding=result.original.encoding, bom=result.original.bom,
                                   before_sha=sha256(result.original.to_bytes()), after_sha=sha256(data)))
    if applied:
        save_undo_record(applied, "".join(patches))
    return len(applied) == len(changed)


@app.command()
def undo() -> None:
    """Revert the last `gradfix apply` run from this folder, exactly; refuse if a file changed since."""
    from gradfix.patch import UndoError, undo_last_apply

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
    from gradfix.docs import rules_table
    from gradfix.rules import all_rules

    typer.echo(rules_table(list(all_rules().values())))


@app.command()
def explain(code: str = typer.Argument(..., help="A rule code, e.g. GF101.")) -> None:
    """Why the rule's pattern breaks gradients, what the fix does, and an example."""
    from gradfix.docs import explain_text
    from gradfix.rules import all_rules

    rule = all_rules().get(code.strip().upper())
    if rule is None:
        _error("explain", f"unknown rule code {code!r}; see `gradfix rules`")
        raise typer.Exit(EXIT_ERROR)
    typer.echo(explain_text(rule))


@app.command("server")
def language_server() -> None:
    """Run the language server on stdio, for editors: diagnostics as you type, quick fixes, fix-all, hover."""
    if importlib.util.find_spec("pygls") is None:
        _error("server", "needs pygls: pip install 'gradfix[server]'")
        raise typer.Exit(EXIT_ERROR)
    from gradfix.lsp.server import serve

    serve()


register_verify(app)


def main() -> None:
    app()
