"""`[tool.gradfix]` in the nearest pyproject.toml, merged under the command-line flags (flags win)."""

from __future__ import annotations

import fnmatch
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


def find_pyproject(start: Path) -> Path | None:
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else start.parents:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                if "tool" in (data := tomllib.loads(candidate.read_text(encoding="utf-8"))) \
                        and "gradfix" in data["tool"]:
                    return candidate
            except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
                continue
    return None


def load_config(start: Path) -> Config:
    """Settings from the first pyproject.toml with a [tool.gradfix] table above `start`, else defaults."""
    pyproject = find_pyproject(start)
    if pyproject is None:
        return Config()
    try:
        table = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["gradfix"]
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: {exc}") from None
    known = {"select", "ignore", "exclude", "per-file-ignores", "unsafe-fixes", "target-keras",
             "max-file-size", "verify"}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{pyproject}: unknown [tool.gradfix] key(s): {', '.join(sorted(unknown))}")
    verify = dict(table.get("verify", {}))
    python = verify.pop("python", None)  # every other key of the table is a file with its factory
    target = str(table.get("target-keras", "auto"))
    if target not in ("auto", "2", "3"):
        raise ConfigError(f"{pyproject}: target-keras must be auto, 2 or 3")
    return Config(
        select=list(table.get("select", [])),
        ignore=list(table.get("ignore", [])),
        exclude=list(table.get("exclude", [])),
        per_file_ignores={k: list(v) for k, v in table.get("per-file-ignores", {}).items()},
        unsafe_fixes=bool(table.get("unsafe-fixes", False)),
        target_keras=target,
        max_file_size=int(table.get("max-file-size", 2_000_000)),
        verify_factories=verify,
        verify_python=None if python is None else str(python),
        root=pyproject.parent,
    )
