"""The three spellings of a verify TARGET: `script.py`, `file.py::factory`, `package.module:factory`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_MODULE_FACTORY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
USAGE = "TARGET must be script.py, file.py::factory or package.module:factory"


class TargetError(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    script: str | None = None  # run as `python script.py`
    file: str | None = None  # import this file, call `factory`
    module: str | None = None  # import this module, call `factory`
    factory: str | None = None

    @property
    def path(self) -> str | None:
        return self.script or self.file


def parse_target(text: str) -> Target:
    if "::" in text:
        file, _, factory = text.rpartition("::")
        if not (file.endswith(".py") and factory.isidentifier()):
            raise TargetError(USAGE)
        return Target(file=file, factory=factory)
    if text.endswith(".py"):
        return Target(script=text)
    if _MODULE_FACTORY.match(text):
        module, _, factory = text.partition(":")
        return Target(module=module, factory=factory)
    raise TargetError(USAGE)


def check_target(text: str, cwd: Path) -> Target:
    """Parse and check what can be checked without running anything (the file exists)."""
    target = parse_target(text)
    if target.path and not (cwd / target.path).is_file():
        raise TargetError(f"no such file: {target.path}")
    return target
