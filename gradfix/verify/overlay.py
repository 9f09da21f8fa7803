"""Run a target as if some of its files were already patched, without writing them anywhere: `apply --verify`
verifies all the files of one change together, each module under its own file name.

The patched text is what the target runs (a script, a factory's file, any module it imports, found by whichever
finder finds it: editable installs included) and what `linecache` answers for the file, even when asked to
reload it, so tracebacks, `inspect.getsource` and autograph (which recompiles a function from its source for
`tf.function`, reloading linecache first) see the patched code, not the file on disk."""

from __future__ import annotations

import builtins
import importlib.machinery
import json
import linecache
import os
import sys
import types
from pathlib import Path
from typing import Any


class Overlay:
    def __init__(self, patched: dict[str, str]) -> None:
        self._patched = {os.path.realpath(path): text for path, text in patched.items()}

    @classmethod
    def read(cls, file: str | None) -> Overlay:
        """From the JSON object {original path: patched source} the parent wrote; no file: nothing patched."""
        return cls(json.loads(Path(file).read_text(encoding="utf-8")) if file else {})

    def install(self) -> None:
        """Before `instrument.install`, whose finder then comes first and reaches this one for user modules."""
        if not self._patched:
            return
        sys.meta_path.insert(0, self)
        reload = linecache.updatecache

        def updatecache(filename: str, module_globals: Any = None) -> list[str]:
            patched = self.patched_source(filename)
            return reload(filename, module_globals) if patched is None else _cache_lines(filename, patched)

        linecache.updatecache = updatecache

    def patched_source(self, path: str) -> str | None:
        return self._patched.get(os.path.realpath(path))

    def compile(self, path: str) -> types.CodeType:
        """The file's code: from its patched source if there is one (then also what linecache holds for `path`),
        else from the file."""
        patched = self.patched_source(path)
        if patched is None:
            return compile(Path(path).read_bytes(), path, "exec", dont_inherit=True)
        _cache_lines(path, patched)
        return compile(patched, path, "exec", dont_inherit=True)

    def loader(self, name: str, path: str) -> importlib.machinery.SourceFileLoader | None:
        """A loader for the patched source of `path`, None when it is not patched (the usual loader then)."""
        return None if self.patched_source(path) is None else _PatchedSourceLoader(name, path, self)

    def find_spec(self, name: str, path: Any = None, target: Any = None):
        """A meta-path finder: asks the finders after this one, and loads a patched file's source instead."""
        finders = sys.meta_path[sys.meta_path.index(self) + 1:] if self in sys.meta_path else []
        for finder in finders:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                loader = self.loader(name, spec.origin) if spec.origin and spec.has_location else None
                if loader is not None:
                    spec.loader = loader
                return spec
        return None


def _cache_lines(path: str, source: str) -> list[str]:
    lines = source.splitlines(keepends=True)
    linecache.cache[path] = (len(source), None, lines, path)  # mtime None: `checkcache` keeps it
    return lines


class _PatchedSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles the patched source under the original's name; never reads or writes bytecode caches, which
    hold the original."""

    def __init__(self, name: str, path: str, overlay: Overlay) -> None:
        super().__init__(name, path)
        self._overlay = overlay

    def get_code(self, fullname: str) -> types.CodeType:
        return self._overlay.compile(self.path)

    def get_source(self, fullname: str) -> str:
        return self._overlay.patched_source(self.path)


def run_script(path: str, overlay: Overlay) -> None:
    """Run `path` as `python path` would (as runpy.run_path does), from its patched source if it has one."""
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=path, __cached__=None, __loader__=None, __package__=None, __spec__=None,
                         __builtins__=builtins)
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = main
    try:
        exec(overlay.compile(path), main.__dict__)
    finally:
        sys.modules["__main__"] = saved
