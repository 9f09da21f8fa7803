"""A run over many files: discover, read once, index, process (in parallel when worth it), collect."""

from __future__ import annotations

import errno
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gradfix.analysis import ProjectIndex
from gradfix.config import Config
from gradfix.discovery import discover
from gradfix.engine import FileResult, Settings, could_have_findings, process_source
from gradfix.notebook import in_cells, source_from_bytes
from gradfix.rules import Rule, select_rules
from gradfix.source import SourceError, SourceText

PARALLEL_THRESHOLD = 16  # below this many candidate files, starting worker processes costs more than it saves


@dataclass
class RunOptions:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    unsafe_fixes: bool | None = None  # None: as the config says
    fix: bool = False
    jobs: int = 0  # 0: all cores
    progress: Callable[[int, int], None] | None = None  # told (files done, files to process) as files finish


@dataclass
class RunReport:
    results: list[FileResult]
    errors: list[tuple[str, str]]  # (path, one-line reason)

    @property
    def diagnostics(self):
        return [d for r in self.results for d in r.diagnostics]


def read_source(path: Path, max_size: int) -> SourceText:
    """The file's text, or a SourceError whose message says in one line why it cannot be read."""
    try:
        size = os.stat(path).st_size
        if size > max_size:
            raise SourceError(f"skipped: {size} bytes is over the max-file-size of {max_size}")
        with open(path, "rb") as stream:
            return source_from_bytes(path, stream.read())
    except SourceError:
        raise
    except IsADirectoryError:
        raise SourceError("is a folder") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError("symlink loop") from None
        if exc.errno == errno.ENOENT:
            raise SourceError("no such file (deleted while running?)") from None
        raise SourceError(exc.strerror or str(exc)) from None


def chosen_codes(options: RunOptions, config: Config) -> tuple[list[str], list[str]]:
    """(select, ignore) with the command line layered over the config, as ruff does: `--select` starts
    the selection afresh (the config's select and ignore no longer apply); `--ignore` adds to the config's."""
    if options.select:
        return options.select, options.ignore
    return config.select, config.ignore + options.ignore


def rules_for(path: Path, rules: list[Rule], config: Config) -> list[Rule]:
    ignored = config.ignored_codes_for(path)
    return [r for r in rules if not any(r.code.startswith(i) for i in ignored)] if ignored else rules


def run(paths: list[Path], options: RunOptions, config: Config,
        sources: dict[Path, SourceText] | None = None) -> RunReport:
    """Process `paths` (or the given in-memory `sources`, e.g. from stdin)."""
    rules = select_rules(*chosen_codes(options, config))
    unsafe_fixes = config.unsafe_fixes if options.unsafe_fixes is None else options.unsafe_fixes
    settings = Settings(unsafe_fixes=unsafe_fixes, fix=options.fix)
    errors: list[tuple[str, str]] = []
    if sources is None:
        found = discover(paths, config)
        errors.extend(found.errors)
        sources = {}
        for path in found.files:
            try:
                sources[path] = read_source(path, config.max_file_size)
            except SourceError as exc:
                errors.append((str(path), str(exc)))
    index = ProjectIndex.build(s.text for s in sources.values())
    tasks = [(str(path), source, [r.code for r in rules_for(path, rules, config)])
             for path, source in sources.items()]
    candidates = [t for t in tasks if could_have_findings(t[1].text, rules, index)]
    jobs = options.jobs or os.cpu_count() or 1
    if jobs > 1 and len(candidates) >= PARALLEL_THRESHOLD:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(settings, index)) as pool:
            processed = list(_counted(pool.map(_process_in_worker, candidates, chunksize=4), options.progress,
                                      len(candidates)))
    else:
        _init_worker(settings, index)
        processed = list(_counted(map(_process_in_worker, candidates), options.progress, len(candidates)))
    by_path = {r.path: r for r in processed}
    results = [by_path.get(path) or FileResult(path=path, original=source) for path, source, _ in tasks]
    errors.extend((r.path, r.error) for r in results if r.error)
    return RunReport(results=results, errors=errors)


def _counted(results: Iterable[FileResult], progress, total: int) -> Iterator[FileResult]:
    for done, result in enumerate(results, start=1):
        if progress:
            progress(done, total)
        yield result


_worker_state: dict = {}


def _init_worker(settings: Settings, index: ProjectIndex) -> None:
    _worker_state.update(settings=settings, index=index)


def _process_in_worker(task) -> FileResult:
    path, source, codes = task
    rules = select_rules(codes, None) if codes else []
    try:
        return in_cells(process_source(path, source, rules, _worker_state["settings"], _worker_state["index"]))
    except Exception as exc:  # a bug of ours must cost one file, never the run or the user's code
        return FileResult(path=path, original=source,
                          error=f"internal error, file left unchanged: {type(exc).__name__}: {exc}")
