"""`[tool.gradfix]` in the nearest pyproject.toml, merged under the command-line flags (flags win)."""

from __future__ import annotations

import fnmatch
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass
class Config:
    select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    unsafe_fixes: bool = False
    target_keras: str = "auto"
    max_file_size: int = 2_000_000
    verify_factories: dict[str, str] = field(default_factory=dict)  # [tool.gradfix.verify] "models/net.py" = "make"
    verify_python: str | None = None  # [tool.gradfix.verify] python: the project's interpreter, for verify
    root: Path | None = None  # folder of the pyproject.toml the settings came from

    def for_path(self, path: Path | str) -> "Config":
        """A Config given to a run holds for every file of it (see ConfigFinder for the nearest one per file)."""
        return self

    def ignored_codes_for(self, path: Path) -> list[str]:
        if not self.per_file_ignores:  # resolving the path is a few system calls per file: skip it
            return []
        relative = _relative(path, self.root)
        return [code for pattern, codes in self.per_file_ignores.items()
                if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(path.name, pattern)
                for code in codes]

    def is_excluded(self, path: Path) -> bool:
        if not self.exclude:
            return False
        relative = _relative(path, self.root)
        parts = Path(relative).parts
        return any(fnmatch.fnmatch(relative, pattern) or any(fnmatch.fnmatch(p, pattern) for p in parts)
                   for pattern in self.exclude)


def _relative(path: Path, root: Path | None) -> str:
    try:
        return path.resolve().relative_to(root).as_posix() if root else path.as_posix()
    except (ValueError, RuntimeError, OSError):  # outside the root, or a symlink loop (reported when read)
        return path.as_posix()


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _gradfix_table(candidate: Path):
    """The [tool.gradfix] table of the pyproject.toml `candidate`, None if there is no such file or table."""
    if not candidate.is_file():
        return None
    tool = _read_toml(candidate).get("tool")
    return tool.get("gradfix") if isinstance(tool, dict) else None


def _list_of_strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# [tool.gradfix] key -> (what it must be, check). Values are validated, never coerced: `select = "GF302"` is
# an error, not a selection of the codes G, F, 3, 0 and 2.
_KEYS = {
    "select": ("a list of rule codes, e.g. [\"GF1\", \"GF201\"]", _list_of_strings),
    "ignore": ("a list of rule codes, e.g. [\"GF302\"]", _list_of_strings),
    "exclude": ("a list of glob patterns", _list_of_strings),
    "per-file-ignores": ("a table of glob pattern = [rule codes]",
                         lambda v: isinstance(v, dict) and all(_list_of_strings(c) for c in v.values())),
    "unsafe-fixes": ("true or false", lambda v: isinstance(v, bool)),
    "target-keras": ("\"auto\", \"2\" or \"3\"", lambda v: str(v) in TARGET_KERAS and not isinstance(v, bool)),
    "max-file-size": ("a number of bytes", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "verify": ("a table of file pattern = \"factory\" (and python = \"path of the project's interpreter\")",
               lambda v: isinstance(v, dict) and all(isinstance(f, str) for f in v.values())),
}
TARGET_KERAS = ("auto", "2", "3")


def config_from_table(table, pyproject: Path) -> Config:
    """A Config from a [tool.gradfix] table, or a ConfigError naming the file and the key at fault."""
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.gradfix] must be a table")
    unknown = set(table) - set(_KEYS)
    if unknown:
        raise ConfigError(f"{pyproject}: unknown [tool.gradfix] key(s): {', '.join(sorted(unknown))}")
    for key, value in table.items():
        expected, valid = _KEYS[key]
        if not valid(value):
            raise ConfigError(f"{pyproject}: [tool.gradfix] {key} must be {expected}, not {value!r}")
    verify = dict(table.get("verify", {}))
    python = verify.pop("python", None)  # every other key of the table is a file with its factory
    return Config(
        select=table.get("select", []),
        ignore=table.get("ignore", []),
        exclude=table.get("exclude", []),
        per_file_ignores=table.get("per-file-ignores", {}),
        unsafe_fixes=table.get("unsafe-fixes", False),
        target_keras=str(table.get("target-keras", "auto")),
        max_file_size=table.get("max-file-size", 2_000_000),
        verify_factories=verify,
        verify_python=python,
        root=pyproject.parent,
    )


def load_config(start: Path) -> Config:
    """Settings from the first pyproject.toml with a [tool.gradfix] table at or above `start` (a folder) or
    above it (a file), else defaults, found as ConfigFinder finds them. A pyproject.toml on the way that is not
    valid TOML is an error: skipping it would silently change settings."""
    real = os.path.realpath(start)
    return ConfigFinder().for_path(os.path.join(real, "_") if os.path.isdir(real) else real)


class ConfigFinder:
    """The configuration of each file: that of the nearest pyproject.toml with a [tool.gradfix] table above it,
    as ruff finds its settings, so a file is checked the same whichever folder the run was started on.
    Looked up once per folder, each folder from its parent's answer (one `stat` per folder, not one per
    ancestor), and one Config per pyproject.toml, so per-configuration work (rule selection) is done once."""

    def __init__(self):
        self._by_folder: dict[str, Config] = {}  # as named (absolute), then as resolved
        self._default = Config()

    def for_path(self, path: Path | str) -> Config:
        """The configuration of the file `path` (which need not exist: `folder/_` asks for the folder's)."""
        folder = os.path.dirname(os.path.abspath(path))
        config = self._by_folder.get(folder)
        if config is None:
            config = self._by_folder[folder] = self._of_resolved(os.path.realpath(folder))
        return config

    def _of_resolved(self, folder: str) -> Config:
        config = self._by_folder.get(folder)
        if config is None:
            table = _gradfix_table(Path(folder, "pyproject.toml"))
            if table is not None:
                config = config_from_table(table, Path(folder, "pyproject.toml"))
            else:
                parent = os.path.dirname(folder)
                config = self._default if parent == folder else self._of_resolved(parent)
            self._by_folder[folder] = config
        return config
