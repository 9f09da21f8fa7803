"""Import LibCST when it is first used, not when a module of gradfix is imported.

LibCST takes a quarter of a second to import — more than checking a file — yet it is only needed to build a
fix or to re-parse a fixed file, which most runs (an editor checking the file just saved, a clean CI run)
never do. A module that needs it says `cst = LazyModule("libcst")`: a private handle that imports the real
module on the first attribute looked up. Nothing is put in `sys.modules`, so other code in the process (a
plugin, the user's own `import libcst`) always gets the real module. A module must not touch `cst.` at
import time (type aliases go under `TYPE_CHECKING`), or it pays the import for every run.
"""

from __future__ import annotations

import importlib
import types


class LazyModule:
    """A handle on a module that is imported when an attribute of it is first needed."""

    def __init__(self, name: str):
        self._name = name
        self._module: types.ModuleType | None = None

    def __getattr__(self, attribute: str):  # called only for what the handle does not hold itself
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (imported)' if self._module else ''}>"
