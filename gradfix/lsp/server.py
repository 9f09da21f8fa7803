"""The language server: diagnostics as the editor's buffer changes, quick fixes, fix-all, hover, notebooks.

Documents are checked at once when opened or saved and shortly after the typing stops (DEBOUNCE_SECONDS);
a request about a document whose last check is older than its text (a quick fix asked for mid-typing) checks
it first, so positions always match the text the editor holds. A change of the Keras classes of one file
re-checks the other open documents; a changed `pyproject.toml` re-indexes the workspace and re-checks them all.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from gradfix import __version__
from gradfix.config import ConfigError
from gradfix.docs import explain_text
from gradfix.engine import FileResult, parse, suppression_edit
from gradfix.lsp.documents import Cell, Document, Reported
from gradfix.lsp.project import Project
from gradfix.document import DOCUMENT_SUFFIXES, is_document
from gradfix.rules import FixSafety, all_rules
from gradfix.source import SourceError, apply_edits

DEBOUNCE_SECONDS = 0.2
FIX_ALL = f"{types.CodeActionKind.SourceFixAll.value}.gradfix"
QUICK_FIX = types.CodeActionKind.QuickFix.value
SEVERITIES = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning,
              "info": types.DiagnosticSeverity.Information}
CONFIG_FILE = "pyproject.toml"
WATCHED = (f"**/{CONFIG_FILE}", *(f"**/*{suffix}" for suffix in DOCUMENT_SUFFIXES))


@dataclass
class Checked:
    """The result of checking one version of a document, and what was derived from it on request."""

    document: Document
    reported: list[Reported]
    generation: int = 0  # which check of the server this is: a code action resolved later must be of the same
    fix_all: dict[str, list[types.TextEdit]] | None = field(default=None, repr=False)  # computed when first asked


class GradfixServer(LanguageServer):
    def __init__(self):
        super().__init__("gradfix", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=types.NotebookDocumentSyncOptions(
                             notebook_selector=[types.NotebookDocumentFilterWithCells(
                                 cells=[types.NotebookCellLanguage("python")], notebook="*")],
                             save=True))
        self.project = Project([])
        self.rules = all_rules()
        self.checked: dict[str, Checked] = {}  # by the uri of the file or notebook, for every open one
        self._generation = 0
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._shown: set[str] = set()  # error messages shown once (not on every keystroke)

    # --- documents -----------------------------------------------------------------------------------------

    def key_of(self, uri: str) -> str:
        """The uri results are kept under: a cell's notebook, else the document itself."""
        notebook = self.workspace.get_notebook_document(cell_uri=uri)
        return notebook.uri if notebook else uri

    def document(self, key: str) -> Document:
        path = Path(to_fs_path(key) or Path.cwd() / key.rsplit("/", 1)[-1])
        notebook = self.workspace.get_notebook_document(notebook_uri=key)
        if notebook is None:
            text = self.workspace.get_text_document(key)
            return Document.python(key, path, text.source, self.versions(key))
        cells = []
        for cell in notebook.cells:
            text = self.workspace.get_text_document(cell.document)
            python = cell.kind == types.NotebookCellKind.Code and text.language_id in (None, "python")
            cells.append(Cell(cell.document, text.source, python))
        return Document.notebook(key, path, cells, self.versions(key))

    def versions(self, key: str) -> tuple:
        """The editor's versions of the document, or of the notebook and each of its cells."""
        notebook = self.workspace.get_notebook_document(notebook_uri=key)
        if notebook is None:
            return (self.workspace.get_text_document(key).version,)
        return (notebook.version, *(self.workspace.get_text_document(c.document).version for c in notebook.cells))

    def current(self, uri: str) -> Checked | None:
        """The results for the text the editor holds now (checked now if they are older)."""
        key = self.key_of(uri)
        checked = self.checked.get(key)
        if checked is None:
            return None
        if key in self._pending or checked.document.versions != self.versions(key):
            return self.check(key)
        return checked

    # --- checking --------------------------------------------------------------------------------------------

    def check(self, key: str) -> Checked:
        """Check the document now, publish its diagnostics; re-check the others if its Keras classes changed."""
        self._cancel(key)
        document = self.document(key)
        index_changed = self.project.update(document.path, document.source.text)
        gc.disable()  # see `serve`: the collections a check would trigger run once it is done
        try:
            result = self.project.check(document.path, document.source)
        except ConfigError as exc:
            self.show_once(str(exc), types.MessageType.Error)
            result = FileResult(path=str(document.path), original=document.source)
        finally:
            gc.enable()
        if result.error:
            self.log(f"{document.path}: {result.error}")
        located = [document.source.locate(d) for d in result.diagnostics]
        reported = [Reported(found, at, document.part_uri(at.cell), self.diagnostic(document, at))
                    for found, at in zip(result.diagnostics, located)]
        previous = self.checked.get(key)
        self._generation += 1
        self.checked[key] = checked = Checked(document, reported, self._generation)
        self.publish(checked, previous)
        if index_changed:
            self.schedule_others(key)
        return checked

    def schedule_others(self, key: str | None) -> None:
        """Check every open document but `key` again soon: the Keras classes of the workspace changed."""
        for other in self.checked:
            if other != key:
                self.schedule(other)

    def schedule(self, key: str) -> None:
        self._cancel(key)
        self._pending[key] = asyncio.get_running_loop().call_later(DEBOUNCE_SECONDS, self.check, key)

    def _cancel(self, key: str) -> None:
        pending = self._pending.pop(key, None)
        if pending:
            pending.cancel()

    def recheck_all(self) -> None:
        for key in list(self.checked):
            self.check(key)

    def reload(self) -> None:
        """Index the workspace again with the configuration as it is now, and re-check every open document."""
        self._shown.clear()
        started = time.perf_counter()
        try:
            errors = self.project.load()
        except ConfigError as exc:
            self.show_once(str(exc), types.MessageType.Error)
            errors = []
        for path, reason in errors:
            self.log(f"{path}: {reason}")
        self.log(f"indexed {self.project.files} files of {len(self.project.roots)} folder(s) "
                 f"in {time.perf_counter() - started:.2f} s")
        self.recheck_all()

    def close(self, key: str) -> None:
        self._cancel(key)
        checked = self.checked.pop(key, None)
        if checked:
            self.publish(Checked(checked.document, []), checked)
            if self.project.update_from_disk(checked.document.path):
                self.schedule_others(None)

    # --- what the editor is sent -----------------------------------------------------------------------------

    def diagnostic(self, document: Document, found) -> types.Diagnostic:
        return types.Diagnostic(range=document.range_of(found, self.workspace.position_codec), message=found.message,
                                severity=self.severity(found), code=found.code, source="gradfix")

    @staticmethod
    def severity(found) -> types.DiagnosticSeverity:
        """The finding's severity (its rule's: error, warning or info) as the editor shows it."""
        return SEVERITIES[found.severity.value]

    def publish(self, checked: Checked, previous: Checked | None) -> None:
        document = checked.document
        parts = [c.uri for c in document.cells if c.python] if document.cells else [document.uri]
        if previous:  # cells that went away, or stopped being Python, lose their diagnostics too
            parts += [c.uri for c in previous.document.cells if c.uri not in parts]
        by_uri: dict[str, list[types.Diagnostic]] = {uri: [] for uri in parts}
        for reported in checked.reported:
            by_uri[reported.uri].append(reported.lsp)
        version = None if document.cells else document.versions[0]
        for uri, diagnostics in by_uri.items():
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def log(self, message: str) -> None:
        self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=message))

    def show_once(self, message: str, kind: types.MessageType) -> None:
        if message not in self._shown:
            self._shown.add(message)
            self.window_show_message(types.ShowMessageParams(type=kind, message=f"gradfix: {message}"))

    # --- code actions and hover ------------------------------------------------------------------------------

    def offers(self, checked: Checked, uri: str, at: types.Range, only) -> list[types.CodeAction]:
        """The code actions for a range of `uri`, without their edits (see `edit_for`): per finding there, its fix
        (when it has one) and `# gradfix: ignore[CODE]`; for the whole file, fix-all when a safe fix exists."""
        actions = []

        def offer(title: str, kind: str, what: str, index: int | None = None, **extra) -> None:
            reported = [checked.reported[index].lsp] if index is not None else None
            actions.append(types.CodeAction(title=title, kind=kind, diagnostics=reported, **extra, data={
                "uri": uri, "generation": checked.generation, "what": what, "finding": index}))

        if _wanted(QUICK_FIX, only):
            for index, reported in enumerate(checked.reported):
                if reported.uri != uri or not _overlaps(reported.lsp.range, at):
                    continue
                code, safety = reported.found.code, reported.found.fix_safety
                if safety is not None and reported.found.fix_edits:
                    offer(f"Fix {code}: {self.rules[code].summary} ({safety.value} fix)", QUICK_FIX, "fix", index,
                          is_preferred=safety is FixSafety.SAFE)
                offer(f"Ignore {code} on this line (# gradfix: ignore[{code}])", QUICK_FIX, "ignore", index)
        if _wanted(FIX_ALL, only) and any(r.found.fix_safety is FixSafety.SAFE for r in checked.reported):
            offer("gradfix: fix all safe findings", FIX_ALL, "fix-all")
        return actions

    def edit_for(self, checked: Checked, data: dict) -> types.WorkspaceEdit | None:
        """The edit of an offered action; None when there is none after all (a result that would not parse,
        nothing to change) or the document was checked again since the offer."""
        if data.get("generation") != checked.generation:
            return None
        document = checked.document
        if data["what"] == "fix-all":
            changes = self.fix_all(checked)
            return types.WorkspaceEdit(changes=changes) if changes else None
        found = checked.reported[data["finding"]].found
        if data["what"] == "fix":
            text = apply_edits(document.source.text, [document.edit(e.line, e.col, e.end_line, e.end_col, e.content)
                                                      for e in found.fix_edits])
            try:
                parse(text)
            except SourceError:
                return None
        else:  # a comment at the end of a line that ends in code: parses by construction
            suppression = suppression_edit(document.source, found.line, found.end_line, found.code)
            text = apply_edits(document.source.text, [suppression] if suppression else [])
        changes = document.edits_to(text, self.workspace.position_codec)
        return types.WorkspaceEdit(changes=changes) if changes else None

    def resolves_edits(self) -> bool:
        """Does the client ask for an action's edit only when the user picks it (`codeAction/resolve`)?"""
        text_document = self.client_capabilities.text_document
        code_action = text_document.code_action if text_document else None
        support = code_action.resolve_support if code_action else None
        return bool(support and "edit" in support.properties)

    def fix_all(self, checked: Checked) -> dict[str, list[types.TextEdit]]:
        """Edits applying every safe fix of the document (never an unsafe one), as `gradfix apply` would."""
        if checked.fix_all is None:
            document = checked.document
            checked.fix_all = {}
            try:
                result = self.project.check(document.path, document.source, fix=True, unsafe_fixes=False)
            except ConfigError:
                return {}
            if result.error:
                self.log(f"{document.path}: {result.error}")
            elif result.fixed:
                checked.fix_all = document.edits_to(result.fixed.text, self.workspace.position_codec)
        return checked.fix_all

    def hover_text(self, reported: Reported) -> str:
        found = reported.found
        return f"**{found.code}** {found.message}\n\n{explain_text(self.rules[found.code])}"


server = GradfixServer()


def _wanted(kind: str, only) -> bool:
    """Is `kind` among the kinds the client asked for (a kind includes its sub-kinds: `source` ⊃ `source.fixAll`)?"""
    return not only or any(kind == o or kind.startswith(f"{o}.") for o in only)


def _before(a: types.Position, b: types.Position) -> bool:
    return (a.line, a.character) < (b.line, b.character)


def _overlaps(a: types.Range, b: types.Range) -> bool:
    return not (_before(a.end, b.start) or _before(b.end, a.start))


def _is_python(document: types.TextDocumentItem) -> bool:
    return document.language_id == "python" or document.uri.endswith((".py", ".pyi"))


@server.feature(types.INITIALIZED)
def initialized(ls: GradfixServer, params: types.InitializedParams) -> None:
    folders = [to_fs_path(f.uri) for f in ls.workspace.folders.values()] or [ls.workspace.root_path]
    ls.project = Project([Path(f) for f in folders if f] or [Path.cwd()])
    watching = ls.client_capabilities.workspace and ls.client_capabilities.workspace.did_change_watched_files
    if watching and watching.dynamic_registration:
        ls.client_register_capability(types.RegistrationParams(registrations=[types.Registration(
            id="gradfix-watched-files", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern=pattern) for pattern in WATCHED]))]))
    ls.reload()
    gc.freeze()  # modules, rules, the index: kept for the server's life


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: GradfixServer, params: types.DidOpenTextDocumentParams) -> None:
    if _is_python(params.text_document) and ls.key_of(params.text_document.uri) == params.text_document.uri:
        ls.check(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: GradfixServer, params: types.DidChangeTextDocumentParams) -> None:
    if params.text_document.uri in ls.checked:
        ls.schedule(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: GradfixServer, params: types.DidSaveTextDocumentParams) -> None:
    if params.text_document.uri.endswith(f"/{CONFIG_FILE}"):
        ls.reload()
    elif params.text_document.uri in ls.checked:
        ls.check(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: GradfixServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.close(params.text_document.uri)


def _on_notebook(action):
    def handler(ls: GradfixServer, params) -> None:
        action(ls, params.notebook_document.uri)
    return handler


# A notebook is checked at once when opened or saved, soon after its cells change; closing it clears its cells.
for _method, _action in ((types.NOTEBOOK_DOCUMENT_DID_OPEN, GradfixServer.check),
                         (types.NOTEBOOK_DOCUMENT_DID_CHANGE, GradfixServer.schedule),
                         (types.NOTEBOOK_DOCUMENT_DID_SAVE, GradfixServer.check),
                         (types.NOTEBOOK_DOCUMENT_DID_CLOSE, GradfixServer.close)):
    server.feature(_method)(_on_notebook(_action))


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def watched_files_changed(ls: GradfixServer, params: types.DidChangeWatchedFilesParams) -> None:
    """A `pyproject.toml` changed: index and check everything again. A source file that is not open changed:
    take its classes from disk, and re-check the open documents if that changed the index."""
    index_changed = False
    for change in params.changes:
        path = Path(to_fs_path(change.uri) or change.uri)
        if path.name == CONFIG_FILE:
            ls.reload()
            return
        if change.uri not in ls.checked and is_document(path):
            index_changed |= ls.project.update_from_disk(path)
    if index_changed:
        ls.recheck_all()


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[QUICK_FIX, FIX_ALL], resolve_provider=True))
def code_action(ls: GradfixServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    """The actions at a range; their edits come with them unless the client resolves them when one is picked
    (a quick fix checks that the file still parses: that is worth doing once, not on every cursor move)."""
    checked = ls.current(params.text_document.uri)
    if checked is None:
        return None
    actions = ls.offers(checked, params.text_document.uri, params.range, params.context.only)
    if ls.resolves_edits():
        return actions
    for action in actions:
        action.edit = ls.edit_for(checked, action.data)
    return [action for action in actions if action.edit]


@server.feature(types.CODE_ACTION_RESOLVE)
def resolve_code_action(ls: GradfixServer, action: types.CodeAction) -> types.CodeAction:
    checked = ls.current(action.data["uri"]) if isinstance(action.data, dict) else None
    if checked:
        action.edit = ls.edit_for(checked, action.data)
    return action


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: GradfixServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    checked = ls.current(uri)
    here = types.Range(start=params.position, end=params.position)
    hits = [r for r in checked.reported if r.uri == uri and _overlaps(r.lsp.range, here)] if checked else []
    if not hits:
        return None
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown,
                                                    value="\n\n---\n\n".join(map(ls.hover_text, hits))),
                       range=hits[0].lsp.range)


GC_THRESHOLD = 100_000  # young objects between collections (the default, 700, collects thousands of times a check)


def serve() -> None:
    """Speak LSP on stdin/stdout until the client says exit (logging goes to stderr)."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # A check allocates hundreds of thousands of objects that live until it ends: collect less often, never scan
    # what start-up made (see `initialized`), and not at all inside a check (`check`: what it leaves is collected
    # once its diagnostics are out).
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    server.start_io()
