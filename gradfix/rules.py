"""What a rule is, and how rules are found.

A rule is a class in a module of the `gradfix.codemods` package (the repository's codemods/ folder) that subclasses
`Rule`; subclassing registers it.
The engine only ever talks to `all_rules()` and never names a rule, so adding a rule is adding a module.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import TYPE_CHECKING, ClassVar, Iterator

from gradfix.source import Edit

if TYPE_CHECKING:
    from gradfix.analysis import FileAnalysis


class FixSafety(str, Enum):
    """Whether `apply` may use a fix by default (safe), only with --unsafe-fixes, or never (none)."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    NONE = "none"


class Severity(str, Enum):
    """How bad a finding is: `error` gradients are cut, `warning` they may be, `info` worth knowing (a deliberate
    freeze). `check` fails only on errors and warnings."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Fix:
    """Text edits applied together. Each fix carries its own safety: one rule may offer a safe fix for one form
    of its pattern and an unsafe one for another."""

    edits: tuple[Edit, ...]
    safety: FixSafety
    needs_tensorflow_import: bool = False
    owns: tuple["Span", ...] = ()  # code it rewrites beside its finding's (one finding per cause, one fix for it)


@dataclass(frozen=True)
class Span:
    """Where a finding is, in `ast` coordinates (1-based lines, UTF-8 byte columns, end exclusive).
    `first_line` is where the code it owns starts: a decorated definition owns its decorators, so a fix may
    remove them with it."""

    line: int
    col: int
    end_line: int
    end_col: int
    first_line: int

    @classmethod
    def of(cls, node: ast.AST) -> "Span":
        decorators = getattr(node, "decorator_list", None)
        first = min([node.lineno] + [d.lineno for d in decorators]) if decorators else node.lineno
        return cls(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset, first)

    @classmethod
    def between(cls, start: ast.AST, end_line: int, end_col: int) -> "Span":
        """From the start of a node to a position no single node ends at (a `with` header and the statements a
        fix moves under it)."""
        return cls(start.lineno, start.col_offset, end_line, end_col, start.lineno)

    @classmethod
    def covering(cls, first: ast.AST, last: ast.AST, first_line: int | None = None) -> "Span":
        """From `first` (or from `first_line`, at `first`'s column: comment lines a fix removes with it) to the end
        of `last`: a finding whose fix edits several statements."""
        line = first_line or first.lineno
        return cls(line, first.col_offset, last.end_lineno, last.end_col_offset, line)

    @property
    def owned_lines(self) -> range:
        return range(self.first_line, self.end_line + 1)


@dataclass
class Finding:
    code: str
    message: str
    span: Span
    severity: Severity
    fix: Fix | None = None


class Rule:
    """Base class of every rule. Subclasses declare the class attributes and implement `check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    summary: ClassVar[str]
    explanation: ClassVar[str]  # Markdown: why it breaks gradients, what the fix does, before/after, Keras 3 vs 2.
    severity: ClassVar[Severity]  # "error" cuts gradients, "warning" may cut them, "info" worth knowing
    fix_safety: ClassVar[FixSafety] = FixSafety.NONE  # the safety of the rule's fixes unless a fix says otherwise
    # Substrings of which at least one must appear in a file for the rule to possibly fire; a cheap
    # screen that lets the engine skip parsing files no selected rule can report on.
    triggers: ClassVar[tuple[str, ...]]
    # None: the rule looks at any code its triggers appear in. A tuple: it reports only on the Keras classes of
    # a file (layers, models, losses and what they call), and beyond them only where one of these words is in
    # the text (`Lambda` for the function of a Lambda layer): a file that defines no Keras class and says none
    # of them is not parsed for it.
    outside_keras_classes: ClassVar[tuple[str, ...] | None] = None
    # A regular expression the text must match for the rule to report (`.trainable = False`), looked for only
    # in files that have a trigger: a file without a match is not parsed for the rule.
    pattern: ClassVar["re.Pattern | None"] = None

    registry: ClassVar[dict[str, type["Rule"]]] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "severity" in vars(cls):  # rules write `severity = "error"`; an unknown word fails at import
            cls.severity = Severity(cls.severity)
        if getattr(cls, "code", None):
            if not isinstance(getattr(cls, "severity", None), Severity):
                raise TypeError(f"rule {cls.code} declares no severity (error / warning / info)")
            Rule.registry[cls.code] = cls

    def check(self, analysis: "FileAnalysis") -> Iterator[Finding]:
        raise NotImplementedError

    def finding(self, where: ast.AST | Span, message: str, fix: Fix | None = None) -> Finding:
        span = where if isinstance(where, Span) else Span.of(where)
        return Finding(code=self.code, message=message, span=span, severity=self.severity, fix=fix)

    def fix(self, *edits: Edit, safety: FixSafety | None = None, needs_tensorflow_import: bool = False,
            owns: tuple[ast.AST, ...] = ()) -> Fix:
        """A fix of the rule's default safety, unless this form of the pattern is safer or riskier than usual.
        `owns`: statements elsewhere that the fix rewrites too (the engine lets its edits touch only those and
        the finding's own lines)."""
        return Fix(tuple(edits), safety=safety or self.fix_safety, needs_tensorflow_import=needs_tensorflow_import,
                   owns=tuple(Span.of(node) for node in owns))


def all_rules() -> dict[str, type[Rule]]:
    """Every registered rule by code, the modules of the `gradfix.codemods` package (which register them)
    imported first."""
    _import_rule_modules()
    return dict(sorted(Rule.registry.items()))


@lru_cache(maxsize=1)
def _import_rule_modules() -> None:
    """Once per process: listing the package's modules costs more than a warm check of a small file."""
    import gradfix.codemods

    for module in pkgutil.iter_modules(gradfix.codemods.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"gradfix.codemods.{module.name}")


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
