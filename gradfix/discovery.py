"""Which files a run looks at: the given files, and the Python files under the given folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gradfix.config import Config

SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__",
                             "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache",
                             ".ruff_cache", ".gradfix", "site-packages", ".ipynb_checkpoints"})
SOURCE_SUFFIXES = (".py", ".ipynb")


@dataclass(frozen=True)
class Discovered:
    files: list[Path]
    errors: list[tuple[str, str]]  # (path, reason) for paths that cannot be walked


def discover(paths: list[Path], config: Config) -> Discovered:
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        key = path.absolute()
        if key not in seen:
            seen.add(key)
            files.append(path)

    for path in paths:
        if not os.path.lexists(path):
            errors.append((str(path), "no such file or folder"))
        elif path.is_dir():
            _walk(path, config, add, errors)
        elif path.is_file() or path.is_symlink():
            # Named explicitly: taken whatever its suffix (problems surface when read), unless the config
            # excludes it -- pre-commit and editors name every file, and must still honour `exclude`.
            if not config.is_excluded(path):
                add(path)
        else:
            errors.append((str(path), "not a regular file"))
    return Discovered(files, errors)


def _walk(root: Path, config: Config, add, errors) -> None:
    def on_error(exc: OSError) -> None:
        errors.append((exc.filename or str(root), exc.strerror or str(exc)))

    for folder, subfolders, names in os.walk(root, onerror=on_error):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.endswith(".egg-info")
                               and not config.is_excluded(Path(folder, d)))
        for name in sorted(names):
            path = Path(folder, name)
            if name.endswith(SOURCE_SUFFIXES) and not config.is_excluded(path):
                add(path)
