"""Which classes are Keras Layers/Models/Losses/Metrics or `tf.Module`s, within a file and across files."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from gradfix.analysis.imports import canonical, import_bindings, scan_imports

if TYPE_CHECKING:
    from gradfix.analysis.program import AttributeCache


class KerasKind(str, Enum):
    LAYER = "layer"
    MODEL = "model"
    LOSS = "loss"
    METRIC = "metric"
    MODULE = "module"  # tf.Module: tracked by tf_keras, not by Keras 3


_MODEL_NAMES = {"Model", "Sequential", "Functional"}
_NOT_LAYERS = ("keras.optimizers", "keras.callbacks", "keras.initializers", "keras.regularizers",
               "keras.constraints", "keras.utils", "keras.backend", "keras.ops", "keras.activations",
               "keras.preprocessing", "keras.datasets", "keras.saving", "keras.mixed_precision")


def kind_of_qualname(qualname: str | None) -> KerasKind | None:
    """The Keras kind of a class given the canonical qualified name of one of its bases."""
    if not qualname:
        return None
    if qualname in ("tensorflow.Module", "tensorflow.experimental.dtensor.Module"):
        return KerasKind.MODULE
    if not qualname.startswith("keras.") or qualname.startswith(_NOT_LAYERS):
        return None
    last = qualname.rsplit(".", 1)[-1]
    if qualname.startswith("keras.losses.") or last == "Loss":
        return KerasKind.LOSS
    if qualname.startswith("keras.metrics.") or last == "Metric":
        return KerasKind.METRIC
    if last in _MODEL_NAMES or ".models." in qualname or ".models" == qualname[-7:]:
        return KerasKind.MODEL if last[:1].isupper() else None
    return KerasKind.LAYER if last[:1].isupper() else None


# Modules that are Keras 2 whatever TensorFlow's version, and the environment switch that makes TensorFlow's
# own `tf.keras` Keras 2 (it does not change the standalone `keras` package: measured with TF 2.21).
_KERAS_2_MODULES = ("tf_keras", "tensorflow.python.keras", "tensorflow.compat.v1.keras")
_LEGACY_KERAS_ON = re.compile(r"""TF_USE_LEGACY_KERAS['"]\s*(?:\]\s*=|,)\s*['"]?(?:1|true|yes)\b""", re.IGNORECASE)


def is_keras_2_file(text: str) -> bool:
    """Does the file itself say it is Keras 2 code: it imports tf_keras (or TF's bundled Keras 2) in any import
    form (`import tensorflow as tf, tf_keras`, `from tf_keras import layers`), or sets TF_USE_LEGACY_KERAS=1
    and reaches Keras through TensorFlow (`tf.keras`, `from tensorflow import keras`)?"""
    if "keras" not in text:
        return False
    bindings = list(import_bindings(text))
    if any(f"{qualname}.".startswith(tuple(m + "." for m in _KERAS_2_MODULES)) for _, qualname in bindings):
        return True
    if not _LEGACY_KERAS_ON.search(text):
        return False
    through_tensorflow = [local for local, qualname in bindings if qualname == "tensorflow"]
    return any(qualname.startswith("tensorflow.keras") for _, qualname in bindings) or any(
        f"{name}.keras" in text for name in through_tensorflow)


_CLASS_HEADER = re.compile(r"\n[ \t\f]*class[ \t\f]+(\w+)[ \t\f]*\(([^)]*)\)")  # on "\n" + text: see imports.py
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*$")
_KEYWORD_ARGUMENT = re.compile(r"^\w+\s*=")  # `metaclass=ABCMeta` in a class header


def class_headers(text: str) -> list[tuple[str, str]]:
    """(name, bases) of every `class Name(bases):` of the text."""
    return _CLASS_HEADER.findall("\n" + text)


@dataclass
class ProjectIndex:
    """Keras kind of every class defined in the files of one run, so `class B(A)` with `A` a Layer from
    another file is a Layer too. Built from text (class headers + imports) without parsing.

    It is only ever asked about names written in the file at hand (a base, a callee): the result cache
    relies on that to keep a file's results when the index changed only in names the file does not contain."""

    kinds: dict[str, KerasKind] = field(default_factory=dict)
    # Source (its module's imports, then the class) of each Keras class of the run that a class of another file
    # derives from: the value analysis reads the weights its `build` makes and the helpers it defines.
    sources: dict[str, str] = field(default_factory=dict)
    # `self.<attr>` values of classes analysed with this index, kept across analyses by a long-lived owner (the
    # server's Project); None (the CLI's runs) keeps nothing. Part of the index, since the values depend on it.
    attribute_cache: "AttributeCache | None" = field(default=None, compare=False, repr=False)
    # The analysis of each base's source (by name and source), made once for every file of a run that derives
    # from it rather than parsed and run again for each.
    base_analyses: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, texts) -> "ProjectIndex":
        files = [(text, cls.facts(text)) for text in texts]
        index = cls.from_facts(facts for _, facts in files)
        index.keep_base_sources(files)
        return index

    def keep_base_sources(self, files) -> None:
        """Fill `sources` from (text, facts) of the run's files: the Keras classes that a class of another file
        derives from (by a base naming a project class, not a Keras/TF one), cut from their files' text
        (`class_module_source`); a base longer than MAX_BASE_SOURCE characters (a framework's own base class)
        stays unknown."""
        files = list(files)
        defined_in: dict[str, int] = {}
        for number, (_, classes) in enumerate(files):
            for name, _ in classes:
                defined_in.setdefault(name, number)
        wanted = {name for number, (_, classes) in enumerate(files) for _, bases in classes for base in bases
                  if base and not kind_of_qualname(base) and (name := base.rsplit(".", 1)[-1]) in self.kinds
                  and defined_in.get(name, number) != number}
        for name in sorted(wanted):
            source = class_module_source(files[defined_in[name]][0], name)
            if source is not None:
                self.sources[name] = source

    @staticmethod
    def facts(text: str) -> list[tuple[str, list[str | None]]]:
        """What one file tells the index: (class name, its bases resolved through the file's imports) for each
        class header. A function of the text alone, so the result cache keeps it by content."""
        if "class" not in text:
            return []
        headers = class_headers(text)
        if not headers:
            return []
        imports = scan_imports(text)
        return [(name, [_resolve_text(b.strip(), imports) for b in bases.split(",")]) for name, bases in headers]

    @classmethod
    def from_facts(cls, facts_per_file) -> "ProjectIndex":
        pending = [(name, bases) for facts in facts_per_file for name, bases in facts]
        index = cls()
        changed = True
        while changed:
            changed = False
            for name, bases in pending:
                if name in index.kinds:
                    continue
                kind = next((k for k in map(index.kind_of_base, bases) if k), None)
                if kind:
                    index.kinds[name] = kind
                    changed = True
        return index

    def mentions_project_class(self, text: str) -> bool:
        """Does the text define a class whose base is a Keras class of this run (needed without any
        `keras` in the file: `from .base import MyLayer; class Block(MyLayer)`)?"""
        if not self.kinds or "class" not in text:
            return False
        return any(base.strip().rsplit(".", 1)[-1] in self.kinds
                   for _, bases in class_headers(text) for base in bases.split(","))

    def may_define_keras_class(self, text: str, facts: list | None = None) -> bool:
        """Could the text define a Keras class (a layer, model, loss, metric or module, nested ones too)? Read
        from the class headers (a class statement starts its line, and a class without a parenthesis has no
        base), so it may say yes for a class the parse then finds is none, never no for one it finds: a base
        that is not a plain dotted name (`Generic[T]`, `f(x)`, one after a comment) counts as one that may be.
        `facts`: the text's `facts`, when known (their bases are resolved already; an unresolved one may be)."""
        if facts is not None:
            return any(base is None or self.kind_of_base(base) for _, bases in facts for base in bases)
        headers = class_headers(text) if "class" in text else []
        imports = scan_imports(text) if headers else {}
        for _, bases in headers:
            for base in bases.split(","):
                base = base.strip()
                if base and not _KEYWORD_ARGUMENT.match(base) and (
                        not _DOTTED.match(base) or self.kind_of_base(_resolve_text(base, imports))):
                    return True
        return False

    def kind_of_base(self, qualname: str | None) -> KerasKind | None:
        """Kind of a base class: a Keras/TF class by name, else a class of this run by its last component."""
        if not qualname:
            return None
        return kind_of_qualname(qualname) or self.kinds.get(qualname.rsplit(".", 1)[-1])


MAX_BASE_SOURCE = 20_000
_TOP_LEVEL_STATEMENT = re.compile(r"^[^\s#)\]}]", re.MULTILINE)  # a line that ends a top-level class body


def class_module_source(text: str, name: str) -> str | None:
    """The module's imports (as `from ... import ... as ...` lines) and its top-level class `name`, as one
    small module: cut by indentation, without parsing the file (the index is built on every run). None when
    the class is not at top level or is longer than MAX_BASE_SOURCE; a cut that does not parse (a string at
    column 0 inside the class) is skipped by the analysis."""
    header = re.search(rf"^class[ \t]+{re.escape(name)}\b", text, re.MULTILINE)
    if header is None:
        return None
    end = _TOP_LEVEL_STATEMENT.search(text, header.end())
    body = text[header.start():end.start() if end else len(text)]
    if len(body) > MAX_BASE_SOURCE:
        return None
    imports = [_import_line(local, qualname) for local, qualname in scan_imports(text).items()]
    return "\n".join([line for line in imports if line] + [body.rstrip(), ""])


def _import_line(local: str, qualname: str) -> str | None:
    module, _, attribute = qualname.rpartition(".")
    if not attribute.isidentifier() or not local.isidentifier():
        return None
    return f"from {module} import {attribute} as {local}" if module else f"import {attribute} as {local}"


def _resolve_text(base: str, imports: dict[str, str]) -> str | None:
    if not _DOTTED.match(base):
        return None
    head, _, rest = base.partition(".")
    if head in imports:
        return canonical(imports[head] + ("." + rest if rest else ""))
    return base
