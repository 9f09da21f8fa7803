"""What the server keeps warm between keystrokes, and checking one document as the CLI checks one file.

The project index (which classes are Keras layers, across files) is built once from the workspace folders, from
each file's index facts; an open document's facts come from its buffer and replace its file's, so a class that
becomes a layer as it is typed changes the findings of the files that use it. Configuration is read per check
from the nearest `pyproject.toml` with `[tool.gradfix]` (a fraction of a millisecond), so an edited config is
in force at the next check without any bookkeeping.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from gradfix.analysis import ProjectIndex
from gradfix.analysis.program import AttributeCache
from gradfix.config import Config, load_config
from gradfix.discovery import discover
from gradfix.engine import FileResult, RuleError, process_source
from gradfix.document import max_bytes, read_document
from gradfix.rules import select_rules
from gradfix.runner import RunOptions, chosen_codes, read_bytes, rules_for, settings_for
from gradfix.source import SourceError, SourceText


class Project:
    """The index of Keras classes over the workspace folders, kept up to date file by file."""

    def __init__(self, roots: list[Path]):
        self.roots = roots
        self._facts: dict[Path, list] = {}
        self.index = ProjectIndex(attribute_cache=AttributeCache())

    @property
    def files(self) -> int:
        return len(self._facts)

    def load(self) -> list[tuple[str, str]]:
        """(Re)build the index from the files under the roots; returns (path, reason) for what could not be read."""
        self._facts.clear()
        errors: list[tuple[str, str]] = []
        for root in self.roots:
            config = load_config(root)
            found = discover([root], config)
            errors.extend(found.errors)
            for path in found.files:
                try:
                    text = read_source(path, config).text
                except SourceError as exc:
                    errors.append((str(path), str(exc)))
                    continue
                self._facts[path.absolute()] = ProjectIndex.facts(text)
        self.index = self._new_index()
        return errors

    def update(self, path: Path, text: str | None) -> bool:
        """Take the file's classes from `text` (None: the file is gone); True when the index changed."""
        facts = ProjectIndex.facts(text) if text is not None else None
        if self._facts.get(path.absolute()) == facts:
            return False
        if facts is None:
            del self._facts[path.absolute()]
        else:
            self._facts[path.absolute()] = facts
        before, self.index = self.index, self._new_index()
        return before.kinds != self.index.kinds

    def _new_index(self) -> ProjectIndex:
        """The index of the facts as they are now, with an empty cache of class attributes (ValueAnalysis): the
        classes of the document being typed are analysed once, not at every keystroke, until it changes."""
        return replace(ProjectIndex.from_facts(self._facts.values()), attribute_cache=AttributeCache())

    def update_from_disk(self, path: Path) -> bool:
        """As `update`, with the file's text on disk (an unreadable or deleted file, or one outside the workspace
        folders, has no classes in the index)."""
        if not any(path.absolute().is_relative_to(root.absolute()) for root in self.roots):
            return self.update(path, None)
        try:
            text = read_source(path, load_config(path)).text
        except (SourceError, OSError):
            text = None
        return self.update(path, text)

    def check(self, path: Path, source: SourceText, fix: bool = False, unsafe_fixes: bool | None = None) -> FileResult:
        """Findings of `source` (the editor's buffer of `path`; a notebook's positions are in its cells laid end to
        end, see `SourceText.locate`); with `fix`, also its fixed text. Rules, settings and per-file ignores
        are those the CLI would use for the file. A ConfigError of the nearest pyproject.toml propagates."""
        config = load_config(path)
        result = FileResult(path=str(path), original=source)
        if config.is_excluded(path) or len(source.text) > max_bytes(path, config.max_file_size):
            return result
        rules = rules_for(path, select_rules(*chosen_codes(RunOptions(), config)), config)
        settings = settings_for(RunOptions(fix=fix, unsafe_fixes=unsafe_fixes), config, path)
        try:
            return process_source(str(path), source, rules, settings, self.index)
        except Exception as exc:  # a bug of ours must cost this check, never the server
            reason = str(exc) if isinstance(exc, RuleError) else f"{type(exc).__name__}: {exc}"
            return replace(result, error=f"internal error: {reason}")


def read_source(path: Path, config: Config) -> SourceText:
    return read_document(path, read_bytes(path, max_bytes(path, config.max_file_size)))
