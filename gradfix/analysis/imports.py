"""Which module each local name comes from, resolved ourselves (LibCST's QualifiedName providers are far
too slow for whole-repository runs), from the text alone so the project index can use it before parsing.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache

# Matched against "\n" + text: a pattern that starts with a literal is searched for several times faster than
# one starting with `^` under re.MULTILINE, which is tried at every position of the text.
_IMPORT = re.compile(r"\n[ \t]*import[ \t]+([^\n#;]+)")
_FROM_IMPORT = re.compile(r"\n[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)")
_ALIAS = re.compile(r"([\w.*]+)(?:\s+as\s+(\w+))?")

# Every spelling under which the Keras API is reachable, mapped to one canonical prefix.
_KERAS_PREFIXES = (
    ("tensorflow.compat.v2.keras.", "keras."),
    ("tensorflow.compat.v1.keras.", "keras."),
    ("tensorflow.python.keras.", "keras."),
    ("tensorflow.keras.", "keras."),
    ("tf_keras.src.", "keras."),
    ("tf_keras.", "keras."),
    ("keras.src.", "keras."),
    ("tensorflow.compat.v2.", "tensorflow."),
    ("tensorflow.compat.v1.", "tensorflow."),
)


@lru_cache(maxsize=4096)  # asked for every attribute and call the analysis reads, with few distinct names
def canonical(qualname: str) -> str:
    """Fold `tf.keras`, `tf_keras`, `keras.src` … into `keras.`, so rules match one spelling."""
    dotted = qualname + "."
    for prefix, replacement in _KERAS_PREFIXES:
        if dotted.startswith(prefix):
            return (replacement + dotted[len(prefix) :]).rstrip(".")
    return qualname


def import_bindings(text: str):
    """(local name, imported dotted name as written) for every import statement in the text, every name of
    it (`import tensorflow as tf, tf_keras` binds two).

    Imports nested in functions or `try` blocks count too: a name bound to numpy anywhere is numpy.
    """
    text = "\n" + text
    for match in _IMPORT.finditer(text):
        for item in match.group(1).split(","):
            alias = _ALIAS.match(item.strip())
            if not alias:
                continue
            module, local = alias.groups()
            yield (local, module) if local else (module.split(".")[0], module.split(".")[0])
    for match in _FROM_IMPORT.finditer(text):
        module = match.group(1)
        for item in match.group(2).strip("()").replace("\\", " ").split(","):
            alias = _ALIAS.match(item.strip())
            if not alias or alias.group(1) == "*":
                continue
            name, local = alias.groups()
            joiner = "" if module.endswith(".") else "."
            yield local or name, f"{module}{joiner}{name}"


@lru_cache(maxsize=64)  # the index, the screen and the analysis of a file may each ask; never mutate the answer
def scan_imports(text: str) -> dict[str, str]:
    """Local name -> canonical qualified name, for every import statement in the text."""
    return {local: canonical(qualname) for local, qualname in import_bindings(text)}


class ImportMap:
    """Resolves expressions such as `np.linalg.norm` or `L.Dense` to canonical qualified names."""

    def __init__(self, text: str):
        self.names = scan_imports(text)

    def qualname(self, expr: ast.AST) -> str | None:
        parts: list[str] = []
        while isinstance(expr, ast.Attribute):
            parts.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name) or expr.id not in self.names:
            return None
        return canonical(".".join([self.names[expr.id], *reversed(parts)]))

    def local_name_of(self, module: str) -> str | None:
        """The name under which `module` is imported here (`tf` for tensorflow), if any — also through a
        re-export or lazy loader (`from keras.src.utils.module_utils import tensorflow as tf`)."""
        return next((local for local, qual in self.names.items()
                     if qual == module or qual.endswith("." + module)), None)

    def is_bound(self, name: str) -> bool:
        return name in self.names
