"""Which files a run looks at: the given files, and the Python files under the given folders."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gradfix.config import Config, ConfigFinder
from gradfix.document import DOCUMENT_SUFFIXES

SKIPPED_FOLDERS = frozenset({".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "__pycache__",
                             "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache",
                             ".ruff_cache", ".gradfix", "site-packages", ".ipynb_checkpoints"})
PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git")


@dataclass(frozen=True)
class Discovered:
    files: list[Path]
    errors: list[tuple[str, str]]  # (path, reason) for paths that cannot be walked
    skipped: list[tuple[str, str]] = ()  # (path, reason) for files left out on purpose, said to the user


def discover(paths: list[Path], config: Config | ConfigFinder) -> Discovered:
    """`config` may be one Config for every path, or a ConfigFinder (each path's `exclude` is its own)."""
    files: list[Path] = []
    errors: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(path: Path, key: str | None = None) -> None:
        """Each file once, though named twice or reached through a symlink too (`key`: where it resolves)."""
        key = key or os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for path in paths:
        if not os.path.lexists(path):
            errors.append((str(path), "no such file or folder"))
        elif path.is_dir():
            _walk(path, config, add, errors, skipped)
        elif path.is_file() or path.is_symlink():
            # Named explicitly: taken whatever its suffix (problems surface when read), unless the config
            # excludes it -- pre-commit and editors name every file, and must still honour `exclude`.
            if not config.for_path(path).is_excluded(path):
                add(path)
        else:
            errors.append((str(path), "not a regular file"))
    return Discovered(files, errors, skipped)


def _walk(root: Path, config: Config | ConfigFinder, add, errors, skipped) -> None:
    """Python files and notebooks under `root`, each folder's before its subfolders', in name order. Symlinked
    folders are not followed, and a symlinked file that resolves outside `root` is skipped, as black does:
    `apply` must never write outside what it was pointed at. One `scandir` per folder tells files, folders and
    links apart without a system call per file."""
    inside = os.path.join(os.path.realpath(root), "")
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as exc:
            errors.append((exc.filename or folder, exc.strerror or str(exc)))
            continue
        settings = config.for_path(os.path.join(folder, "_"))  # the configuration of this folder's files
        subfolders = []
        for entry in entries:
            name = entry.name
            if _is_folder(entry):
                if not entry.is_symlink() and name not in SKIPPED_FOLDERS and not name.endswith(".egg-info") \
                        and not settings.is_excluded(Path(entry.path)):
                    subfolders.append(entry.path)
            elif name.endswith(DOCUMENT_SUFFIXES) and not settings.is_excluded(path := Path(entry.path)):
                if not entry.is_symlink():
                    add(path)
                elif (target := os.path.realpath(path)).startswith(inside):
                    add(path, target)
                else:
                    skipped.append((str(path), f"skipped: a symlink to {target}, outside {root}"))
        pending.extend(reversed(subfolders))


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop, or a link the folder cannot resolve: a file, reported when read
        return False


def project_root(path: Path, config: Config) -> Path | None:
    """The folder of the project a file belongs to: where its [tool.gradfix] configuration is, else the nearest
    folder above it with a pyproject.toml, setup.py, setup.cfg, requirements.txt or .git; None if there is none."""
    return config.root if config.root is not None else _marked_folder(path.absolute().parent)


@lru_cache(maxsize=1024)
def _marked_folder(folder: Path) -> Path | None:
    if any((folder / marker).exists() for marker in PROJECT_MARKERS):
        return folder
    return None if folder.parent == folder else _marked_folder(folder.parent)
