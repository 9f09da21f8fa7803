"""What a rule is, and how rules are found.

A rule is a class in a module of the `codemods` package that subclasses `Rule`; subclassing registers it.
The engine only ever talks to `all_rules()` and never names a rule, so adding a rule is adding a module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, ClassVar, Iterator

from gradfix.source import Edit

if TYPE_CHECKING:
    from gradfix.analysis import FileAnalysis


class FixSafety(str, Enum):
    """Whether `apply` may use a rule's fix by default (safe), only with --unsafe-fixes, or never (none)."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


@dataclass(frozen=True)
class Fix:
    edits: tuple[Edit, ...]
    safety: FixSafety = FixSafety.SAFE
    needs_tensorflow_import: bool = False


@dataclass
class Finding:
    code: str
    message: str
    node: ast.AST
    fix: Fix | None = None
    # Filled by the engine from `node` once the rule has spoken.
    line: int = 0
    col: int = 0
    end_line: int = 0
    end_col: int = 0
    extra: dict = field(default_factory=dict)


class Rule:
    """Base class of every rule. Subclasses declare the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    explanation: ClassVar[str]  # Markdown: why it breaks gradients, what the fix does, before/after, Keras 3 vs 2.
    fix_safety: ClassVar[FixSafety] = FixSafety.NONE
    # Substrings of which at least one must appear in a file for the rule to possibly fire; a cheap
    # screen that lets the engine skip parsing files no selected rule can report on.
    triggers: ClassVar[tuple[str, ...]]

    registry: ClassVar[dict[str, type["Rule"]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if getattr(cls, "code", None):
            Rule.registry[cls.code] = cls

    def check(self, analysis: "FileAnalysis") -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, node: ast.AST, message: str, fix: Fix | None = None) -> Finding:
        return Finding(code=self.code, message=message, node=node, fix=fix)

    def fix(self, *edits: Edit, needs_tensorflow_import: bool = False) -> Fix:
        return Fix(tuple(edits), safety=self.fix_safety, needs_tensorflow_import=needs_tensorflow_import)


def all_rules() -> dict[str, type[Rule]]:
    """Import every module of the `codemods` package (which registers its rules) and return them by code."""
    import codemods

    for module in pkgutil.iter_modules(codemods.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"codemods.{module.name}")
    return dict(sorted(Rule.registry.items()))


def select_rules(select: list[str] | None, ignore: list[str] | None) -> list[Rule]:
    """Instantiate the rules chosen by --select/--ignore; codes may be prefixes (`GF1`, `GF10`)."""
    rules = all_rules()
    unknown = [c for c in (select or []) + (ignore or []) if not any(code.startswith(c) for code in rules)]
    if unknown:
        raise ValueError(f"unknown rule code(s): {', '.join(unknown)}")
    chosen = [
        rule
        for code, rule in rules.items()
        if (not select or any(code.startswith(s) for s in select))
        and not any(code.startswith(i) for i in ignore or [])
    ]
    return [rule() for rule in chosen]
