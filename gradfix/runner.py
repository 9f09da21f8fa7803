"""A run over many files: discover, read each once, index, screen, answer from the cache, process the rest
(in worker processes when there is enough work to pay for starting them), collect.

Cheap checks come first: the screen (a trigger of a selected rule + a Keras/TF marker, on the text) skips most
files without parsing them; the cache answers for unchanged files; only what is left is parsed and analysed.
"""

from __future__ import annotations

import errno
import gc
import os
import stat
from concurrent import futures  # its ProcessPoolExecutor (and multiprocessing) is imported only when used
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator

from gradfix.analysis import ProjectIndex
from gradfix.analysis.imports import scan_imports
from gradfix.cache import ResultCache, RunSnapshot, cache_folder, content_digest, stat_signature
from gradfix.config import Config, ConfigFinder
from gradfix.discovery import discover, project_root
from gradfix.document import max_bytes, read_document
from gradfix.engine import FileResult, RuleError, Settings, applicable_rules, could_have_findings, located, \
    process_source
from gradfix.pins import declared_keras, distribution_keras
from gradfix.rules import Rule, select_rules
from gradfix.source import SourceError, SourceText

# Below this many characters to parse (about a third of a second of work), starting worker processes
# costs more than it saves: a handful of files is always processed in this process.
PARALLEL_MIN_CHARS = 1_000_000


@dataclass
class RunOptions:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    unsafe_fixes: bool | None = None  # None: as the config says
    fix: bool = False
    jobs: int = 0  # 0: all cores
    progress: Callable[[int, int], None] | None = None  # told (files done, files to process) as files finish
    cache: bool = False  # answer unchanged files from .gradfix/cache (next to the config root, else the cwd)
    target_keras: str | None = None  # --target-keras: "2", "3" or "auto"; None: as the config says


@dataclass
class RunReport:
    results: list[FileResult]
    errors: list[tuple[str, str]]  # (path, one-line reason)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): left out on purpose

    @property
    def diagnostics(self):
        return [d for r in self.results for d in r.diagnostics]


@dataclass(frozen=True)
class Task:
    """One file to process: what a worker process receives."""

    path: str
    source: SourceText
    codes: tuple[str, ...]  # the rules selected for the file
    settings: Settings
    applicable: tuple[str, ...]  # those of them the screen kept (`applicable_rules`): not screened twice


def read_bytes(path: Path, max_size: int) -> bytes:
    """The file's bytes, or a SourceError whose message says in one line why they cannot be read.

    Opened without blocking and checked to be a regular file first: a FIFO or device named `*.py` must not
    hang or flood the run."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(descriptor, "rb") as stream:
            info = os.fstat(descriptor)
            if stat.S_ISDIR(info.st_mode):
                raise SourceError("is a folder")
            if not stat.S_ISREG(info.st_mode):
                raise SourceError("not a regular file")
            if info.st_size > max_size:
                raise SourceError(f"skipped: {info.st_size} bytes is over the max-file-size of {max_size}")
            return stream.read()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError("symlink loop") from None
        if exc.errno == errno.ENOENT:
            raise SourceError("no such file (deleted while running?)") from None
        raise SourceError(f"cannot read: {exc.strerror or exc}") from None


def chosen_codes(options: RunOptions, config: Config) -> tuple[list[str], list[str]]:
    """(select, ignore) with the command line layered over the config, as ruff does: `--select` starts
    the selection afresh (the config's select and ignore no longer apply); `--ignore` adds to the config's."""
    if options.select:
        return options.select, options.ignore
    return config.select, config.ignore + options.ignore


def settings_for(options: RunOptions, config: Config, path: Path | None = None) -> Settings:
    """The command line over the config; `auto` Keras settled by the pins of the file's project, or by the
    metadata of the installed distribution the file belongs to, if any."""
    unsafe_fixes = config.unsafe_fixes if options.unsafe_fixes is None else options.unsafe_fixes
    target_keras = options.target_keras or config.target_keras
    if target_keras == "auto" and path is not None:
        root = project_root(path, config)
        target_keras = (root and declared_keras(root)) or distribution_keras(path) or "auto"
    return Settings(unsafe_fixes=unsafe_fixes, fix=options.fix, target_keras=target_keras)


def rules_for(path: Path, rules: list[Rule], config: Config) -> list[Rule]:
    ignored = config.ignored_codes_for(path)
    return [r for r in rules if not any(r.code.startswith(i) for i in ignored)] if ignored else rules


def run(paths: list[Path], options: RunOptions, config: Config | ConfigFinder,
        sources: dict[Path, SourceText] | None = None) -> RunReport:
    """Process `paths` (or the given in-memory `sources`, e.g. from stdin; those are never cached). `config`
    holds for every file, or is a ConfigFinder that gives each file the configuration nearest to it."""
    rules: dict[int, list[Rule]] = {}  # by id of the Config: select/ignore are per configuration

    def rules_of(path: Path) -> list[Rule]:
        file_config = config.for_path(path)
        if id(file_config) not in rules:
            rules[id(file_config)] = select_rules(*chosen_codes(options, file_config))
        return rules_for(path, rules[id(file_config)], file_config)

    settings_by_folder: dict[Path, Settings] = {}

    def settings_in(path: Path) -> Settings:
        """`settings_for` the file: the same for every file of a folder (its configuration, project and
        distribution are the folder's)."""
        if path.parent not in settings_by_folder:
            settings_by_folder[path.parent] = settings_for(options, config.for_path(path), path)
        return settings_by_folder[path.parent]

    errors: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    contents: dict[Path, bytes] = {}
    cache = snapshot = None
    if sources is None:  # files on disk: a cache keyed by their content, next to the first one's configuration
        found = discover(paths, config)
        errors.extend(found.errors)
        skipped.extend(found.skipped)
        if options.cache and found.files:
            cache = ResultCache(cache_folder(config.for_path(found.files[0]).root))
        if cache and not options.fix and not found.errors:
            snapshot = RunSnapshot(cache, [(str(path), tuple(r.code for r in rules_of(path)), settings_in(path),
                                            config.for_path(path).max_file_size) for path in found.files])
            answered = snapshot.load()
            if answered is not None:  # nothing changed since the same run: no file needs reading
                return RunReport(results=answered, errors=[], skipped=skipped)
        sources = _read_all(found.files, config, contents, errors)
    digests = _Digests(contents)
    probed: dict[str, list | None] = {}

    def facts_of(texts: dict[Path, str]) -> list[list]:
        if cache:  # what each file tells the index is kept by content
            return cache.file_facts([(digests[path], text) for path, text in texts.items()])
        return [ProjectIndex.facts(text) for text in texts.values()]

    index, facts = _project_index(sources, config, contents, facts_of, probed)
    if cache:
        cache.use_index(index)
    results: dict[str, FileResult] = {}
    tasks: list[Task] = []
    keys: dict[str, str] = {}
    for path, source in sources.items():
        name, file_rules = str(path), rules_of(path)
        if not could_have_findings(source.text, file_rules, index):
            results[name] = FileResult(path=name, original=source)
            continue
        codes = tuple(r.code for r in file_rules)
        settings = settings_in(path)
        if cache:
            keys[name] = cache.key(name, source, digests[path], list(codes), settings)
            cached = cache.load(keys[name], source)
            if cached:
                results[name] = cached
                continue
        applicable = applicable_rules(source.text, file_rules, index, facts[path])  # the whole screen
        if not applicable:
            results[name] = FileResult(path=name, original=source)
            if cache:
                cache.store(keys[name], results[name])
            continue
        tasks.append(Task(name, source, codes, settings, tuple(rule.code for rule in applicable)))
    for result in _counted(_process_all(tasks, index, options.jobs), options.progress, len(tasks)):
        results[result.path] = result
        if cache:
            cache.store(keys[result.path], result)
    ordered = [results[str(path)] for path in sources]
    errors.extend((r.path, r.error) for r in ordered if r.error)
    if snapshot is not None and not errors:
        snapshot.store(ordered, probed)
    return RunReport(results=ordered, errors=errors, skipped=skipped)


def _read_all(files: list[Path], config, contents: dict[Path, bytes], errors) -> dict[Path, SourceText]:
    """Each file's source (its bytes kept in `contents`); a file that cannot be read is an error."""
    sources = {}
    for path in files:
        try:
            data = read_bytes(path, max_bytes(path, config.for_path(path).max_file_size))
            sources[path] = read_document(path, data)
            contents[path] = data
        except SourceError as exc:
            errors.append((str(path), str(exc)))
    return sources


class _Digests(dict):
    """Content digest of each file read, computed when first asked for."""

    def __init__(self, contents: dict[Path, bytes]):
        super().__init__()
        self.contents = contents

    def __missing__(self, path: Path) -> str:
        self[path] = content_digest(self.contents[path])
        return self[path]


def _project_index(sources: dict[Path, SourceText], config, contents: dict[Path, bytes],
                   facts_of: Callable[[dict[Path, str]], list[list]], probed: dict[str, list | None]
                   ) -> tuple[ProjectIndex, dict[Path, list]]:
    """Which classes are Keras classes: from the run's files, and from the files of their project that define
    the bases they import (`class Block(Base)` with `from .base import Base` is a layer whether base.py was
    named or not), followed through re-exports and to the bases of those bases, so results do not change with
    the folder passed. Only those modules are read, never the whole project. The index keeps the source of
    such bases for the value analysis (ProjectIndex.keep_base_sources). `facts_of`: `ProjectIndex.facts` of
    each text (from the cache when it can); `probed` is told what every module file looked for looked like
    (`stat_signature`), for RunSnapshot. Returns the index and each file's facts."""
    texts = {path: source.text for path, source in sources.items()}
    facts = dict(zip(texts, facts_of(texts)))
    index = _index_from(texts, facts)
    known = {Path(os.path.abspath(path)): path for path in texts}  # absolute -> as named in `texts`
    scan_of = lru_cache(maxsize=None)(scan_imports)  # once per module and importer, however many bases lead there
    roots_of = lru_cache(maxsize=None)(lambda importer: _import_roots(importer, config))
    wanted = [(base, path) for path, named in known.items() for base in _imported_bases(facts[named])
              if not index.kind_of_base(base)]
    read, followed = 0, set()
    while wanted and read < MAX_BASE_MODULES:
        base, importer = wanted.pop()
        if (base, importer) in followed:  # re-exports may go round in a circle
            continue
        followed.add((base, importer))
        module, _, name = base.rpartition(".")
        for path in _module_files(module, importer, roots_of(importer), probed):
            if path not in known:
                read += 1
                found = _read_all([path], config, contents, [])
                texts[path] = found[path].text if path in found else ""
                facts[path] = ProjectIndex.facts(texts[path])
                known[path] = path
                wanted += [(b, path) for b in _imported_bases(facts[path])]
            if name not in (defined for defined, _ in facts[known[path]]):
                wanted += [(q, path) for local, q in scan_of(texts[known[path]]).items() if local == name]
    return _index_from(texts, facts) if read else index, facts


def _index_from(texts: dict[Path, str], facts: dict[Path, list]) -> ProjectIndex:
    index = ProjectIndex.from_facts(facts.values())
    index.keep_base_sources((text, facts[path]) for path, text in texts.items())
    return index


MAX_BASE_MODULES = 200  # a bound on the modules read for one run's bases


def _imported_bases(facts: list) -> list[str]:
    """The bases of a file's classes (its `ProjectIndex.facts`) that come from another module and may be the
    project's own (not Keras or TensorFlow: their kinds are known by name)."""
    return [base for _, bases in facts for base in bases
            if base and "." in base and _KERAS_OR_TF.isdisjoint(base.split("."))]


def _import_roots(path: Path, config) -> tuple[Path, ...]:
    """Where the project's absolute imports may start: its root (and root/src), and the file's own folder."""
    root = project_root(path, config.for_path(path))
    return tuple(dict.fromkeys([*(p for r in [root] if r for p in (r, r / "src")), path.parent]))


def _module_files(module: str, importer: Path, folders: tuple[Path, ...],
                  probed: dict[str, list | None]) -> Iterator[Path]:
    """The file of `module` (`.base`, `..utils.layers`, `models.base`), as a module or a package, if it is
    in the project: a relative module from the importer's package, an absolute one under `folders`. Each file
    looked for is put in `probed` with its `stat_signature`, taken before it is read."""
    if module.startswith("."):
        dots = len(module) - len(module.lstrip("."))
        starts = [importer.parent.joinpath(*[".."] * (dots - 1))]
        module = module[dots:]
    else:
        starts = list(folders)
    parts = module.split(".") if module else []
    for start in starts:
        base = start.joinpath(*parts)
        for candidate in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
            if candidate is None:
                continue
            signature = probed[str(candidate)] = stat_signature(candidate)
            if signature is not None and signature[-1]:  # a regular file
                yield Path(os.path.normpath(candidate.absolute()))
                return


_KERAS_OR_TF = frozenset({"keras", "tf_keras", "tensorflow"})


def _counted(results: Iterable[FileResult], progress, total: int) -> Iterator[FileResult]:
    for done, result in enumerate(results, start=1):
        if progress:
            progress(done, total)
        yield result


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _process_all(tasks: list[Task], index: ProjectIndex, jobs: int) -> Iterator[FileResult]:
    """Results in any order; in worker processes (biggest files first, so none is left for last) when
    there are several files and enough text to pay for starting them."""
    jobs = min(jobs or available_cores(), len(tasks))
    if jobs > 1 and sum(len(t.source.text) for t in tasks) >= PARALLEL_MIN_CHARS:
        pending = {t.path: t for t in sorted(tasks, key=lambda t: len(t.source.text), reverse=True)}
        try:
            with futures.ProcessPoolExecutor(max_workers=jobs, initializer=_start_worker,
                                             initargs=(index,)) as pool:
                for result in pool.map(_process_in_worker, list(pending.values())):
                    del pending[result.path]
                    yield result
        except futures.BrokenExecutor:  # a worker died (out of memory?): finish here, where errors are reported
            pass
        tasks = list(pending.values())
    _init_worker(index)
    try:
        yield from map(_process_in_worker, tasks)
    finally:
        _worker_state.clear()  # the index, and the analyses of base classes it keeps for the run


_worker_state: dict = {}


def _init_worker(index: ProjectIndex) -> None:
    _worker_state.update(index=index, rules={})


def _start_worker(index: ProjectIndex) -> None:
    _init_worker(index)


@contextmanager
def _collected_after():
    """No garbage collection while a file is analysed, one of the young generation once it is done. Its trees
    and flows (hundreds of thousands of objects) live until then, so collections inside only scan them again
    and again (15-20 % of a cold run); the cycles it leaves (the analysis and its flows refer to each other)
    are all young, and freed by that one collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.collect(0)
        if enabled:
            gc.enable()


def _rules(codes: tuple[str, ...]) -> list[Rule]:
    rules = _worker_state["rules"]
    if codes not in rules:
        rules[codes] = select_rules(list(codes), None) if codes else []
    return rules[codes]


def _process_in_worker(task: Task) -> FileResult:
    try:
        rules = _rules(task.codes)
        with _collected_after():
            return located(process_source(task.path, task.source, rules, task.settings, _worker_state["index"],
                                          [rule for rule in rules if rule.code in task.applicable]))
    except Exception as exc:  # a bug of ours must cost one file, never the run or the user's code
        reason = str(exc) if isinstance(exc, RuleError) else f"{type(exc).__name__}: {exc}"
        return FileResult(path=task.path, original=task.source, error=f"internal error, file left unchanged: {reason}")
