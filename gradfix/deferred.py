"""Import LibCST when it is first used, not when a module says `import libcst as cst`.

LibCST takes a quarter of a second to import — more than checking a file — yet it is only needed to build a
fix or to re-parse a fixed file, which most runs (an editor checking the file just saved, a clean CI run)
never do. Every module keeps its plain `import libcst as cst`: `gradfix/__init__.py` puts a stand-in module
in `sys.modules` first, which imports the real one on the first attribute looked up, and from then on holds
all of its attributes. So a module must not touch `cst.` at import time (type aliases go under
`TYPE_CHECKING`), or it pays the import for every run.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class DeferredModule(types.ModuleType):
    """Stands in for a module in `sys.modules` until an attribute of it is needed."""

    def __getattr__(self, name: str):  # called only for what the stand-in does not hold yet
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)
        return getattr(module, name)


def defer_import(name: str) -> None:
    """Make `import name` cheap until `name.something` is used. Nothing to do if it is imported already, or
    not installed (then `import name` fails as usual)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is not None:
        stand_in = DeferredModule(name)
        stand_in.__spec__ = spec  # what the import system checks on a module found in sys.modules
        sys.modules[name] = stand_in
