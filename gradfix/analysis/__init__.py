"""Shared analysis of one file, computed lazily and reused by every rule.

Analysis runs on Python's `ast` (several times faster to build than a LibCST tree, which matters on
whole repositories); rules build their replacement code as text from the source's own segments and hand back
text edits. LibCST, which costs more to import than checking a file, is imported only to re-parse a fixed file.
"""

from __future__ import annotations

import ast
from functools import cached_property

from gradfix.analysis.classes import KerasClass
from gradfix.analysis.imports import ImportMap
from gradfix.analysis.keras import KerasKind, ProjectIndex
from gradfix.analysis.program import FlowView, ValueAnalysis
from gradfix.analysis.statements import lines_with, module_statements
from gradfix.analysis.tapes import LossCallable, Tape, find_loss_callables, find_tapes
from gradfix.analysis.tensors import TensorScope
from gradfix.analysis.values import Kind, Value
from gradfix.source import Edit, SourceText

__all__ = ["FileAnalysis", "FlowView", "KerasClass", "KerasKind", "Kind", "ProjectIndex", "Tape", "TensorScope",
           "Value", "ValueAnalysis"]


class FileAnalysis:
    def __init__(self, source: SourceText, tree: ast.Module, index: ProjectIndex | None = None,
                 target_keras: str = "auto"):
        self.source = source
        self.tree = tree
        self.target_keras = target_keras  # "auto", "2" or "3", from [tool.gradfix] target-keras
        self.imports = ImportMap(source.text)
        self.index = index if index is not None else ProjectIndex.build([source.text])

    @classmethod
    def from_text(cls, text: str, index: ProjectIndex | None = None) -> "FileAnalysis":
        return cls(SourceText(text), ast.parse(text), index)

    def qualname(self, node: ast.AST) -> str | None:
        return self.imports.qualname(node)

    def release(self) -> None:
        """Drop the tree, flows and caches the analysis holds; it is not used again. They refer to one another
        (a flow to the analysis that runs it, and back), so otherwise only a garbage collection frees them: freed
        here, the collection after each file (runner) has little left to scan (0.25 -> 0.08 s on a corpus)."""
        values = self.__dict__.get("values")
        if values is not None:
            values.__dict__.clear()
        self.__dict__.clear()

    @cached_property
    def keras_classes(self) -> list[KerasClass]:
        classes = []
        for node in module_statements(self.tree):
            if isinstance(node, ast.ClassDef):
                kinds = [self.index.kind_of_base(self.qualname(b) or _bare_name(b)) for b in node.bases]
                kind = next((k for k in kinds if k), None)
                if kind:
                    classes.append(KerasClass(node, kind, self.imports, self.index, values=self.values))
        return classes

    @cached_property
    def values(self) -> ValueAnalysis:
        """The one value-flow analysis of the file (gradfix/analysis/flow.py, program.py): what each expression
        holds at its program point, its dtype and rank, and what later code does with it."""
        return ValueAnalysis(self.tree, self.imports, self.index, lambda: self.keras_classes, self.source.text)

    @cached_property
    def forward_scopes(self) -> list[TensorScope]:
        """Tensor scopes of every method on the forward path of a Keras Layer/Model."""
        return [scope for keras_class in self.keras_classes
                if keras_class.kind in (KerasKind.LAYER, KerasKind.MODEL)
                for scope in keras_class.forward_scopes]

    @cached_property
    def tapes(self) -> list[Tape]:
        """Every `tf.GradientTape` block of the file, with its gradient requests and data flow."""
        tapes = find_tapes(self.tree, self.imports, self.values)
        classes = {id(c.node): c for c in self.keras_classes}
        for tape in tapes:
            tape.keras_class = classes.get(id(tape.owner_class))
        return tapes

    @cached_property
    def loss_callables(self) -> list[LossCallable]:
        """Every `optimizer.minimize(lambda: loss, var_list)`: the lambda's body is recorded like a tape's block."""
        lines = lines_with(self.source.text, ("minimize",), self.source.line_starts)
        return find_loss_callables(self.tree, self.imports, self.values, lines) if lines else []

    # --- writing code back -------------------------------------------------------------------------
    @cached_property
    def tf_name(self) -> str:
        """Name to write TensorFlow calls with: the file's own alias, else `tf` (import added by the engine)."""
        return self.imports.local_name_of("tensorflow") or "tf"

    @property
    def tensorflow_imported(self) -> bool:
        return self.imports.local_name_of("tensorflow") is not None

    def span(self, node: ast.AST) -> tuple[int, int]:
        return (self.source.offset(node.lineno, node.col_offset),
                self.source.offset(node.end_lineno, node.end_col_offset))

    def segment(self, node: ast.AST) -> str:
        start, end = self.span(node)
        return self.source.text[start:end]

    def operand(self, node: ast.AST) -> str:
        """The node's source, parenthesised unless it binds tightly enough to stand anywhere."""
        text = self.segment(node)
        atomic = (ast.Name, ast.Attribute, ast.Call, ast.Subscript, ast.Constant, ast.List, ast.Tuple, ast.Dict)
        return text if isinstance(node, atomic) and not isinstance(node, ast.Tuple) else f"({text})"

    def replace(self, node: ast.AST, new: str) -> Edit:
        start, end = self.span(node)
        return Edit(start, end, new)


def _bare_name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else None
