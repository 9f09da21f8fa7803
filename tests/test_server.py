"""`gradfix server` end to end: a real LSP client (pytest-lsp) drives the server over stdio in a subprocess.

Every test opens documents of a small workspace (written to disk first: the server indexes it at start-up) and
checks what an editor would see: diagnostics of the buffer, quick fixes and fix-all applied to the buffer's text,
hover, configuration and index changes, a notebook."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import pytest_asyncio
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, default_converter, register_lsp_features

from conftest import FIXTURES, ROOT, fixed_text
from gradfix.engine import Diagnostic
from gradfix.lsp.server import FIX_ALL, server
from gradfix.rules import Severity

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCALE = '''import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return ("😀", inputs.numpy() * 2)[1]
'''
SCALE_FIXED = SCALE.replace("inputs.numpy()", "inputs")
KERAS_BASE = "import tensorflow as tf\n\n\nclass Base(tf.keras.layers.Layer):\n    pass\n"
BLOCK = '''from base import Base


class Block(Base):
    def call(self, inputs):
        return inputs.numpy() * 2
'''
WITHOUT_TF_IMPORT = FIXTURES / "GF101" / "tf_keras_import_adds_tensorflow.py"
LOOP = FIXTURES / "GF403" / "loss_after_the_tape.py"
CONFIG = '[tool.gradfix]\nignore = []\n'
TIMEOUT = 20


def recording_client() -> LanguageClient:
    """The test client, also keeping every publishDiagnostics (the last one per uri, with its version) and the
    capabilities the server registers."""
    client = LanguageClient(converter_factory=default_converter)
    client.published, client.history, client.registrations = {}, [], []

    def publish(client: LanguageClient, params: types.PublishDiagnosticsParams):
        client.published[params.uri] = params
        client.history.append(params)

    def register(client: LanguageClient, params: types.RegistrationParams):
        client.registrations.extend(params.registrations)

    register_lsp_features(client, {**DEFAULT_CLIENT_FEATURES, types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: publish,
                                   types.CLIENT_REGISTER_CAPABILITY: register})
    return client


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "gradfix", "server"],
                                              client_factory=recording_client), scope="module")
async def client(lsp_client: LanguageClient, tmp_path_factory):
    """One server for the module (starting one costs a second or more); tests use documents of their own."""
    root = tmp_path_factory.mktemp("workspace")
    (root / "pyproject.toml").write_text(CONFIG, encoding="utf-8")
    (root / "base.py").write_text(KERAS_BASE, encoding="utf-8")
    (root / "block.py").write_text(BLOCK, encoding="utf-8")
    capabilities = client_capabilities("visual-studio-code")
    capabilities.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities())
    lsp_client.initialized_with = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=root.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name="project")]))
    lsp_client.root = root
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "gradfix", "server"],
                                              client_factory=recording_client), scope="module")
async def minimal_client(lsp_client: LanguageClient, tmp_path_factory):
    """A client that announces no capabilities at all: no notebooks, no file watching, no `codeAction/resolve`."""
    root = tmp_path_factory.mktemp("minimal")
    lsp_client.initialized_with = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=root.as_uri()))
    lsp_client.root, lsp_client.opened = root, []
    yield
    await lsp_client.shutdown_session()


@pytest_asyncio.fixture(autouse=True, loop_scope="module")
async def closes_what_it_opens(client: LanguageClient):
    """Each test leaves the server as it found it: its documents closed, the configuration as it was."""
    client.opened = []
    yield
    for uri in client.opened:
        client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    pyproject = client.root / "pyproject.toml"
    if pyproject.read_text(encoding="utf-8") != CONFIG:
        pyproject.write_text(CONFIG, encoding="utf-8")
        notify_changed(client, pyproject)


def notify_changed(client: LanguageClient, path: Path) -> None:
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(
        changes=[types.FileEvent(uri=path.as_uri(), type=types.FileChangeType.Changed)]))


async def published(client: LanguageClient, uri: str, version: int | None = None) -> list[types.Diagnostic]:
    """The diagnostics of the next publication for `uri` (for `version`, when given); call `forget` first to
    wait for a new one."""
    async def arrived():
        while uri not in client.published or (version is not None and client.published[uri].version != version):
            await asyncio.sleep(0.01)
    await asyncio.wait_for(arrived(), TIMEOUT)
    return list(client.published[uri].diagnostics)


def open_file(client: LanguageClient, name: str, text: str) -> str:
    uri = (client.root / name).as_uri()
    client.published.pop(uri, None)
    client.opened.append(uri)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    return uri


def change(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


async def actions(client: LanguageClient, uri: str, at: types.Range, only=None) -> list[types.CodeAction]:
    """The code actions at `at`, each with its edit (resolved, as an editor does when one is picked)."""
    offered = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=at,
        context=types.CodeActionContext(diagnostics=[], only=only)))
    assert all(action.edit is None for action in offered), "VS Code resolves edits when an action is picked"
    return [await client.code_action_resolve_async(action) for action in offered]


def whole(text: str) -> types.Range:
    return types.Range(start=types.Position(line=0, character=0),
                       end=types.Position(line=len(text.splitlines()), character=0))


def applied(text: str, edits: list[types.TextEdit]) -> str:
    """`text` after the edits, as an editor applies them (positions in UTF-16 code units)."""
    lines = text.splitlines(keepends=True)

    def offset(position: types.Position) -> int:
        if position.line >= len(lines):
            return len(text)
        line = lines[position.line]
        units = 0
        for column, char in enumerate(line):
            if units >= position.character:
                return sum(map(len, lines[:position.line])) + column
            units += len(char.encode("utf-16-le")) // 2
        return sum(map(len, lines[:position.line + 1]))

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


def titled(found: list[types.CodeAction], start: str) -> types.CodeAction:
    matching = [a for a in found if a.title.startswith(start)]
    assert len(matching) == 1, [a.title for a in found]
    return matching[0]


# --- diagnostics ---------------------------------------------------------------------------------------------

async def test_the_buffer_is_checked_on_open_with_positions_in_utf16(client: LanguageClient):
    uri = open_file(client, "model1.py", SCALE)
    (diagnostic,) = await published(client, uri, version=1)
    assert (diagnostic.code, diagnostic.source, diagnostic.severity) == ("GF102", "gradfix",
                                                                         types.DiagnosticSeverity.Error)
    line = SCALE.splitlines()[6]
    start = len(line[:line.index("inputs.numpy")].encode("utf-16-le")) // 2  # the emoji is two UTF-16 units
    assert diagnostic.range == types.Range(start=types.Position(line=6, character=start),
                                           end=types.Position(line=6, character=start + len("inputs.numpy()")))


async def test_typing_is_checked_once_it_pauses(client: LanguageClient):
    uri = open_file(client, "model2.py", SCALE)
    assert len(await published(client, uri, version=1)) == 1
    client.history.clear()
    change(client, uri, 2, SCALE + "\n")
    change(client, uri, 3, SCALE_FIXED + "#")
    change(client, uri, 4, SCALE_FIXED)
    assert await published(client, uri, version=4) == []
    assert [p.version for p in client.history if p.uri == uri] == [4], "one check, of the last text"


async def test_saving_checks_at_once(client: LanguageClient):
    uri = open_file(client, "model3.py", SCALE_FIXED)
    assert await published(client, uri, version=1) == []
    change(client, uri, 2, SCALE)
    client.text_document_did_save(types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri)))
    assert [d.code for d in await published(client, uri, version=2)] == ["GF102"]


async def test_keras_classes_come_from_the_workspace_and_follow_edits_of_other_files(client: LanguageClient):
    block = open_file(client, "block.py", BLOCK)
    assert [d.code for d in await published(client, block, version=1)] == ["GF102"], "Base is a layer on disk"
    base = open_file(client, "base.py", KERAS_BASE)
    await published(client, base, version=1)
    client.published.pop(block)
    change(client, base, 2, "class Base:\n    pass\n")
    assert await published(client, block) == [], "Block is no layer any more"


# --- code actions --------------------------------------------------------------------------------------------

async def test_the_quick_fix_says_it_is_safe_and_repairs_the_buffer(client: LanguageClient):
    uri = open_file(client, "model4.py", SCALE)
    (diagnostic,) = await published(client, uri, version=1)
    fix = titled(await actions(client, uri, diagnostic.range), "Fix GF102")
    assert fix.kind == types.CodeActionKind.QuickFix and "(safe fix)" in fix.title and fix.is_preferred
    assert fix.diagnostics[0].code == "GF102"
    assert applied(SCALE, fix.edit.changes[uri]) == SCALE_FIXED


async def test_a_quick_fix_that_needs_tensorflow_brings_its_import(client: LanguageClient):
    text = WITHOUT_TF_IMPORT.read_text(encoding="utf-8")
    uri = open_file(client, "keras2.py", text)
    (diagnostic,) = await published(client, uri, version=1)
    fix = titled(await actions(client, uri, diagnostic.range), "Fix GF101")
    expected = WITHOUT_TF_IMPORT.with_name(WITHOUT_TF_IMPORT.stem + ".expected.py").read_text(encoding="utf-8")
    assert applied(text, fix.edit.changes[uri]) == expected


async def test_unsafe_fixes_are_quick_fixes_but_never_part_of_fix_all(client: LanguageClient):
    (client.root / "pyproject.toml").write_text("[tool.gradfix]\nunsafe-fixes = true\n", encoding="utf-8")
    text = LOOP.read_text(encoding="utf-8")
    uri = open_file(client, "loop.py", text + "\n\n" + SCALE.split("\n\n\n")[1])
    assert [d.code for d in await published(client, uri, version=1)] == ["GF403", "GF102"]
    diagnostic = client.published[uri].diagnostics[0]
    fix = titled(await actions(client, uri, diagnostic.range), "Fix GF403")
    assert "(unsafe fix)" in fix.title and not fix.is_preferred
    expected = LOOP.with_name(LOOP.stem + ".expected.py").read_text(encoding="utf-8")
    assert applied(text + "\n\n" + SCALE.split("\n\n\n")[1], fix.edit.changes[uri]) == \
        expected + "\n\n" + SCALE.split("\n\n\n")[1]
    (fix_all,) = await actions(client, uri, whole(text), only=[types.CodeActionKind.SourceFixAll])
    assert applied(text + "\n\n" + SCALE.split("\n\n\n")[1], fix_all.edit.changes[uri]) == \
        text + "\n\n" + SCALE_FIXED.split("\n\n\n")[1], "the safe fix only"


async def test_fix_all_applies_every_safe_fix_of_the_file(client: LanguageClient):
    text = SCALE + "\n\nclass Twice(tf.keras.layers.Layer):\n    def call(self, inputs):\n" \
                   "        return np.sum(inputs.numpy())\n"
    uri = open_file(client, "model5.py", text)
    assert sorted(d.code for d in await published(client, uri, version=1)) == ["GF101", "GF102", "GF102"]
    (fix_all,) = await actions(client, uri, types.Range(start=types.Position(line=0, character=0),
                                                        end=types.Position(line=0, character=0)),
                               only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.kind == "source.fixAll.gradfix"
    fixed = applied(text, fix_all.edit.changes[uri])
    assert fixed == fixed_text(text), "what `gradfix apply` writes"
    assert "numpy()" not in fixed
    change(client, uri, 2, fixed)
    assert await published(client, uri, version=2) == []


async def test_the_ignore_comment_action_silences_the_finding(client: LanguageClient):
    uri = open_file(client, "model6.py", SCALE)
    (diagnostic,) = await published(client, uri, version=1)
    ignore = titled(await actions(client, uri, diagnostic.range, only=[types.CodeActionKind.QuickFix]), "Ignore GF102")
    silenced = applied(SCALE, ignore.edit.changes[uri])
    assert silenced == SCALE.replace("[1]\n", "[1]  # gradfix: ignore[GF102]\n")
    change(client, uri, 2, silenced)
    assert await published(client, uri, version=2) == []


async def test_a_client_without_resolve_gets_the_edits_with_the_actions(minimal_client: LanguageClient):
    client = minimal_client
    assert client.initialized_with.capabilities.notebook_document_sync is None
    uri = open_file(client, "model.py", SCALE)
    (diagnostic,) = await published(client, uri, version=1)
    offered = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[])))
    assert [a.title.split(":")[0].split(" (")[0] for a in offered] == [
        "Fix GF102", "Ignore GF102 on this line", "gradfix"]
    assert applied(SCALE, offered[0].edit.changes[uri]) == SCALE_FIXED
    assert applied(SCALE, offered[2].edit.changes[uri]) == SCALE_FIXED
    assert client.registrations == [], "no file watchers asked of a client that cannot register them"


# --- hover ---------------------------------------------------------------------------------------------------

async def test_hover_on_a_finding_explains_its_rule(client: LanguageClient):
    uri = open_file(client, "model7.py", SCALE)
    (diagnostic,) = await published(client, uri, version=1)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri), position=diagnostic.range.end))
    assert hover.contents.kind == types.MarkupKind.Markdown
    assert hover.contents.value.startswith(f"**GF102** {diagnostic.message}")
    assert "## Why gradients stop" in hover.contents.value and hover.range == diagnostic.range
    elsewhere = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri), position=types.Position(line=0, character=3)))
    assert elsewhere is None


# --- configuration -------------------------------------------------------------------------------------------

async def test_a_changed_pyproject_is_reloaded_and_open_documents_checked_again(client: LanguageClient):
    uri = open_file(client, "model8.py", SCALE)
    assert len(await published(client, uri, version=1)) == 1
    assert [r.method for r in client.registrations] == [types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert "**/pyproject.toml" in str(client.registrations[0].register_options)
    pyproject = client.root / "pyproject.toml"
    pyproject.write_text('[tool.gradfix]\nignore = ["GF102"]\n', encoding="utf-8")
    client.published.pop(uri)
    notify_changed(client, pyproject)
    assert await published(client, uri) == []


async def test_the_configuration_in_force_is_read_at_each_check(client: LanguageClient):
    uri = open_file(client, "model9.py", SCALE)
    assert len(await published(client, uri, version=1)) == 1
    (client.root / "pyproject.toml").write_text('[tool.gradfix]\nselect = ["GF1"]\nignore = ["GF102"]\n',
                                                encoding="utf-8")
    change(client, uri, 2, SCALE + "\n")
    assert await published(client, uri, version=2) == []


async def test_a_broken_configuration_is_shown_not_crashed_on(client: LanguageClient):
    (client.root / "pyproject.toml").write_text('[tool.gradfix]\nunknown-key = 1\n', encoding="utf-8")
    uri = open_file(client, "model10.py", SCALE)
    assert await published(client, uri, version=1) == []
    assert any("unknown-key" in m.message and m.type == types.MessageType.Error for m in client.messages)


# --- notebooks -----------------------------------------------------------------------------------------------

async def test_a_notebook_is_checked_as_one_program_with_findings_in_their_cells(client: LanguageClient):
    notebook = (client.root / "explore.ipynb").as_uri()
    cells = ["import numpy as np\nimport tensorflow as tf\n%matplotlib inline", "# Scale", SCALE.split("\n\n\n")[1]]
    cell_uris = [f"vscode-notebook-cell:{client.root / 'explore.ipynb'}#cell{n}" for n in range(3)]
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=notebook, notebook_type="jupyter-notebook", version=1, cells=[
            types.NotebookCell(kind=types.NotebookCellKind.Markup if n == 1 else types.NotebookCellKind.Code,
                               document=cell_uris[n]) for n in range(3)]),
        cell_text_documents=[types.TextDocumentItem(uri=cell_uris[n], language_id="markdown" if n == 1 else "python",
                                                    version=1, text=cells[n]) for n in range(3)]))
    assert client.initialized_with.capabilities.notebook_document_sync is not None
    (diagnostic,) = await published(client, cell_uris[2])
    assert await published(client, cell_uris[0]) == []
    assert diagnostic.code == "GF102" and diagnostic.range.start.line == 2, "line 3 of the third cell"
    fix = titled(await actions(client, cell_uris[2], diagnostic.range), "Fix GF102")
    assert list(fix.edit.changes) == [cell_uris[2]]
    fixed = cells[2].replace("inputs.numpy()", "inputs")
    assert applied(cells[2], fix.edit.changes[cell_uris[2]]) == fixed
    (fix_all,) = await actions(client, cell_uris[0], whole(cells[0]), only=[types.CodeActionKind.SourceFixAll])
    assert {uri: applied(cells[n], fix_all.edit.changes[uri]) for n, uri in enumerate(cell_uris)
            if uri in fix_all.edit.changes} == {cell_uris[2]: fixed}, "the IPython line stays as it was"
    client.published.pop(cell_uris[2])
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cell_uris[2], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)])]))))
    assert await published(client, cell_uris[2]) == []
    client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=notebook),
        cell_text_documents=[types.TextDocumentIdentifier(uri) for uri in cell_uris]))


# --- severity ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("severity, expected", [(Severity.ERROR, types.DiagnosticSeverity.Error),
                                                (Severity.WARNING, types.DiagnosticSeverity.Warning),
                                                (Severity.INFO, types.DiagnosticSeverity.Information)])
async def test_a_rules_severity_maps_to_the_lsp_severity(severity, expected):
    assert server.severity(Diagnostic(path="x.py", code="GF999", message="m", line=1, col=1, end_line=1,
                                      end_col=2, severity=severity)) == expected


# --- the README's set-ups ------------------------------------------------------------------------------------

def readme_block(heading: str, language: str) -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Language server\n", 1)[1]
    part = section.split(f"\n### {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.search(rf"```{language}\n(.*?)```", part, re.DOTALL).group(1)


async def test_every_documented_editor_set_up_starts_gradfix_server_for_python():
    vscode = json.loads(readme_block("VS Code (Generic LSP Client)", "json"))
    assert [vscode["glspc.server.command"], *vscode["glspc.server.commandArguments"]] == ["gradfix", "server"]
    assert vscode["glspc.server.languageId"] == ["python"]
    assert FIX_ALL in vscode["[python]"]["editor.codeActionsOnSave"]
    helix = tomllib.loads(readme_block("Helix", "toml"))
    assert [helix["language-server"]["gradfix"]["command"], *helix["language-server"]["gradfix"]["args"]] == \
        ["gradfix", "server"]
    assert "gradfix" in next(lang for lang in helix["language"] if lang["name"] == "python")["language-servers"]
    neovim = readme_block("Neovim", "lua")
    assert "cmd = { 'gradfix', 'server' }" in neovim and "filetypes = { 'python' }" in neovim
    assert f"only = {{ '{FIX_ALL}' }}" in neovim and "vim.lsp.enable('gradfix')" in neovim
    assert re.search(r"Command:\s+\S*gradfix server\n", readme_block("PyCharm (LSP4IJ)", "text"))
