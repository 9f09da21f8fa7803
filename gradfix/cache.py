"""Content-hash cache of per-file results, so that a second run over an unchanged tree parses nothing.

A file's result is a function of: its bytes and path, the code of gradfix and of its rules, the Python and
LibCST versions, the rule codes that apply to the file, the run's settings — and the project index (which
class names are Keras classes across the files of the run). All but the index make up the entry's key.
The index changes whenever any file gains or loses a Keras class, so keying on all of it would throw the
whole cache away for one new layer. Instead each entry records the index it was computed with, and is
reused under another index only when the two differ solely in class names that do not occur in the file's
text: the analysis only ever asks the index about names written in the file (`ProjectIndex.kind_of_base`
of a base or a callee, `mentions_project_class` of a class header).

Entries are JSON, never pickle (a cache folder may come from an untrusted CI cache), written through a
temporary file and a rename so that concurrent runs never see half an entry. An entry that is missing,
unreadable or malformed is a miss; a cache that cannot be written is ignored: the cache can cost a
re-computation, never a wrong or lost finding.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib.util
import json
import os
import re
import shutil
import stat
import sys
import types
import typing
from functools import lru_cache
from pathlib import Path

from gradfix import __version__
from gradfix.analysis import ProjectIndex
from gradfix.engine import FileResult, Settings
from gradfix.source import SourceText

CACHE_FOLDER = Path(".gradfix") / "cache"
FEW_NAMES = 16  # up to this many changed class names, searching the text for each beats splitting it into words
_IDENTIFIER = re.compile(r"\w+")


def cache_folder(config_root: Path | None) -> Path:
    """`.gradfix/cache` next to the pyproject.toml that configured the run, else in the current folder."""
    return (config_root or Path.cwd()) / CACHE_FOLDER


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """Hash of everything in gradfix that decides a result: its version, the source of gradfix and of the
    rules (an edited rule must never be answered from the cache), and the Python and LibCST versions."""
    import gradfix
    import gradfix.codemods as codemods

    digest = hashlib.blake2b(f"{__version__}\0{sys.version}\0{_libcst_release()}".encode(), digest_size=12)
    for package in (gradfix, codemods):
        root = Path(package.__file__).parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _libcst_release() -> str:
    """The name of LibCST's installed metadata folder (`libcst-1.5.1.dist-info`): its version, found without
    importing `importlib.metadata` (a third of a warm run's start-up)."""
    spec = importlib.util.find_spec("libcst")
    folder = Path(spec.origin).parent.parent if spec and spec.origin else None
    return ",".join(sorted(p.name for p in folder.glob("libcst-*.dist-info"))) if folder else ""


@dataclasses.dataclass(frozen=True)
class IndexFacts:
    """What the cache needs of a ProjectIndex: its Keras classes by name, and a hash of everything else in it."""

    kinds: dict[str, str]
    rest: str
    fingerprint: str

    @classmethod
    def of(cls, index: ProjectIndex) -> "IndexFacts":
        fields = dict(vars(index))
        fields.pop("base_analyses")  # made from `sources`, which count
        sources = fields.pop("sources")  # a base's source is part of its name's entry: a file that does not
        # name the base keeps its results when it changes
        kinds = {name: _plain(kind) + (f"@{_sources_digest(name, sources)}" if name in sources else "")
                 for name, kind in sorted(fields.pop("kinds").items())}
        rest = _hash(json.dumps(_plain(fields), sort_keys=True))
        return cls(kinds, rest, _hash(json.dumps([kinds, rest])))

    def changed_names(self, other: "IndexFacts") -> set[str] | None:
        """Class names whose kind differs between the two indexes; None when they differ in anything else."""
        if other.rest != self.rest:
            return None
        return {name for name in self.kinds.keys() | other.kinds.keys()
                if self.kinds.get(name) != other.kinds.get(name)}


def _sources_digest(name: str, sources: dict[str, str]) -> str:
    """Hash of a base's source and of the sources of the project bases it names in turn (read with it)."""
    named, pending = [], [name]
    while pending:
        current = pending.pop()
        if current not in named:
            named.append(current)
            pending += [other for other in sources if other in sources[current]]
    return _hash(json.dumps([sources[n] for n in sorted(named)]))


def content_digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


class ResultCache:
    """Results of one run's files under `folder`, for this run's settings and (once `use_index` has been
    told it) its index. Files are known by `content_digest` of their bytes."""

    def __init__(self, folder: Path):
        self.root = folder
        self.folder = folder / code_fingerprint()
        self.index: IndexFacts | None = None
        self._changed_since: dict[str, set[str] | None] = {}
        self._writable: bool | None = None
        self._index_saved = False

    def file_facts(self, files: list[tuple[str, str]]) -> list[list]:
        """What each of the (digest, text) files tells the project index (`ProjectIndex.facts`), scanning only
        the texts not seen before: kept by content in one file, `index-facts.json`."""
        path = self.folder / "index-facts.json"
        try:
            known = json.loads(path.read_bytes())
            known = {digest: facts for digest, facts in known.items() if _are_index_facts(facts)}
        except (OSError, ValueError, AttributeError):
            known = {}
        facts = {digest: known[digest] if digest in known else ProjectIndex.facts(text) for digest, text in files}
        if not facts.keys() <= known.keys():
            # keep other runs' files too (an editor checking one file must not evict the whole tree), up to a bound
            kept = {**known, **facts} if len(known) < 2 * len(facts) + 10_000 else facts
            if self.prepare():
                _write_atomically(path, json.dumps(kept).encode())
        return [facts[digest] for digest, _ in files]

    def use_index(self, index: ProjectIndex) -> None:
        """The run's index, which the entries stored from now on depend on."""
        self.index = IndexFacts.of(index)
        self._changed_since[self.index.fingerprint] = set()

    def key(self, path: str, source: SourceText, digest: str, codes: list[str], settings: Settings) -> str:
        """The entry of this file (by path, content and kind of source) under these rule codes and settings."""
        return _hash(json.dumps([path, type(source).__name__, digest, repr(settings), codes]))

    def load(self, key: str, source: SourceText) -> FileResult | None:
        try:
            entry = json.loads(self._entry_path(key).read_bytes())
            if not self._index_allows(entry["index"], source.text):
                return None
            return _decoded_result(entry["result"], original=source,
                                   fixed=None if entry["fixed"] is None else source.with_text(entry["fixed"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, result: FileResult) -> None:
        """Remember a result; errors are not remembered (they are rare, and may be transient)."""
        if result.error is not None or not self.prepare():
            return
        if not self._index_saved:  # the index this run's entries refer to, for `_index_allows` of later runs
            snapshot = {"kinds": self.index.kinds, "rest": self.index.rest}
            _write_atomically(self.folder / "index" / f"{self.index.fingerprint}.json", json.dumps(snapshot).encode())
            self._index_saved = True
        try:
            entry = json.dumps({"index": self.index.fingerprint, "fixed": result.fixed and result.fixed.text,
                                "result": _encoded_result(result)})
        except TypeError:  # a field of a type this cache cannot write: compute it again next time
            return
        _write_atomically(self._entry_path(key), entry.encode())

    # ---------------------------------------------------------------------------------------------------
    def _entry_path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key[2:]}.json"

    def _index_allows(self, fingerprint: str, text: str) -> bool:
        if fingerprint not in self._changed_since:
            snapshot = self._read_index(fingerprint)
            self._changed_since[fingerprint] = None if snapshot is None else self.index.changed_names(snapshot)
        changed = self._changed_since[fingerprint]
        if changed is None:
            return False
        if len(changed) <= FEW_NAMES:
            return not any(name in text for name in changed)
        return changed.isdisjoint(_IDENTIFIER.findall(text))

    def _read_index(self, fingerprint: str) -> IndexFacts | None:
        try:
            data = json.loads((self.folder / "index" / f"{fingerprint}.json").read_bytes())
            return IndexFacts(dict(data["kinds"]), str(data["rest"]), fingerprint)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def prepare(self) -> bool:
        """Create the folder on the first write, dropping folders of other gradfix versions. False when the
        cache cannot be written."""
        if self._writable is None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                (self.root / ".gitignore").write_text("# created by gradfix\n*\n", encoding="utf-8")
                for other in self.root.iterdir():
                    if other.is_dir() and other != self.folder:
                        shutil.rmtree(other, ignore_errors=True)
                self._writable = True
            except OSError:
                self._writable = False
        return self._writable


class RunSnapshot:
    """A whole `check` of a tree that has not changed, answered from one file without reading a source: the
    results of every file, with how each input looked (`stat_signature`): the files checked, and the modules
    the index read or looked for (the bases they import). The key holds every file's path, rule codes and
    settings (and max-file-size), and the folder gradfix's code; any difference, and the run is done file by
    file as usual."""

    MAX_KEPT = 32  # snapshots of different runs (other folders, files, flags) kept side by side

    def __init__(self, cache: ResultCache, files: list[tuple[str, tuple[str, ...], Settings, int]]):
        """`files`: (path, rule codes, settings, max-file-size) of each file of the run."""
        self.cache = cache
        key = _hash(json.dumps([[path, list(codes), repr(settings), size] for path, codes, settings, size in files]))
        self.path = cache.folder / "runs" / f"{key}.json"
        self.stats = {path: stat_signature(path) for path, *_ in files}  # before any file is read

    def load(self) -> list[FileResult] | None:
        try:
            entry = json.loads(self.path.read_bytes())
            if entry["files"] != self.stats or any(stat_signature(path) != stat
                                                    for path, stat in entry["probed"].items()):
                return None
            return [_decoded_result(fields) for fields in entry["results"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def store(self, results: list[FileResult], probed: dict[str, list | None]) -> None:
        """Remember a run without errors or fixed text, and `probed`: the signatures of the modules the index
        looked at, taken before they were read."""
        if None in self.stats.values() or any(r.error is not None or r.fixed is not None for r in results) \
                or not self.cache.prepare():
            return
        try:
            data = json.dumps({"files": self.stats, "probed": probed,
                               "results": [_encoded_result(r) for r in results]})
        except TypeError:
            return
        _write_atomically(self.path, data.encode())
        kept = sorted(self.path.parent.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[self.MAX_KEPT:]:
            old.unlink(missing_ok=True)


def stat_signature(path) -> list | None:
    """What a file looks like to `os.stat`: size, modification and change times (ns), inode, and whether it is
    a regular file; None when there is nothing there."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, stat.S_ISREG(st.st_mode)]


def _are_index_facts(value) -> bool:
    """Is this what `ProjectIndex.facts` returns (read back from JSON)? A damaged file must not crash a run."""
    return isinstance(value, list) and all(
        isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str) and isinstance(entry[1], list)
        and all(base is None or isinstance(base, str) for base in entry[1]) for entry in value)


def _write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError:
        try:
            temporary.unlink(missing_ok=True)
        except OSError:
            pass


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _plain(value):
    """A JSON-able, order-independent form of index facts (sets sorted, enums by value)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(map(repr, value))
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value):
        return _plain(vars(value))
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


# --- results as JSON: dataclasses, enums, tuples and lists, decoded by the dataclasses' type hints ----------

def _encode(value):
    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if isinstance(value, (str, int, float, bool, type(None))):
        return value
    raise TypeError(f"cannot cache a {type(value).__name__}")


def _encoded_result(result: FileResult) -> dict:
    """A result as JSON, without its documents (`original`, `fixed`): the caller knows or keeps those."""
    return _encode({f.name: getattr(result, f.name) for f in dataclasses.fields(result)
                    if f.name not in ("original", "fixed")})


def _decoded_result(fields: dict, **documents) -> FileResult:
    return FileResult(**_decode(fields, _hints(FileResult)), **documents)


@lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _decode(value, hint):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        return _decode(value, hint)
    if origin in (list, tuple):
        return origin(_decode(item, args[0]) for item in value)
    if isinstance(value, dict) and dataclasses.is_dataclass(hint):
        return hint(**_decode(value, _hints(hint)))
    if isinstance(hint, dict):  # the fields of a dataclass, by name
        return {name: _decode(item, hint[name]) for name, item in value.items()}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError(f"expected {hint.__name__}, found {type(value).__name__}")
    return value
