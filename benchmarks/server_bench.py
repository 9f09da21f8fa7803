"""How fast does a warm `gradfix server` answer on a 2,000-line file? Prints one table; asserts nothing.

The server runs as an editor starts it (`gradfix server`, stdio) and is driven by pygls's client. After a
warm-up, each round edits the buffer and saves it (a save is checked at once; typing is checked
DEBOUNCE_SECONDS after it pauses) and times the round trip to the diagnostics of that version, and the
server's CPU time for it (which the machine's other load does not change). Then, on new versions: a quick-fix
request at a finding (edits sent with the actions: this client does not resolve them), a hover on it, and
fix-all (the first request of a version; later ones are answered from memory). Beside it, in the same run:
the one-file CLI (`gradfix check --no-cache FILE`) and Python's own start-up (`python -c pass`), which every
CLI run pays and the server pays once.

    python benchmarks/server_bench.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from gradfix.lsp.server import DEBOUNCE_SECONDS
from one_file import compile_bytecode

LINES = 2_000
HEADER = "import numpy as np\nimport tensorflow as tf\n"
LAYER = '''

class Dense{n}(tf.keras.layers.Layer):
    """A dense layer; every fifth one converts its hidden tensor to NumPy (GF102)."""

    def __init__(self, units=8, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        hidden = tf.matmul(inputs, self.kernel) + self.bias
        scale = np.sqrt(self.units)
        return {value} / scale
'''


def model_file() -> str:
    """A Keras module of LINES lines: layers, one in five with a finding."""
    text, n = HEADER, 0
    while text.count("\n") < LINES:
        text += LAYER.format(n=n, value="hidden.numpy()" if n % 5 == 0 else "hidden")
        n += 1
    return "".join(text.splitlines(keepends=True)[:LINES])


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


class Session:
    """A server in a subprocess with one open document, and the latest diagnostics it published."""

    def __init__(self, root: Path, path: Path):
        self.client = LanguageClient("server-bench", "1")
        self.root, self.uri = root, path.as_uri()
        self.version = 1
        self.diagnostics: dict[int, list[types.Diagnostic]] = {}
        self.arrived = asyncio.Event()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def published(params: types.PublishDiagnosticsParams):
            if params.uri == self.uri:
                self.diagnostics[params.version] = list(params.diagnostics)
                self.arrived.set()

    async def start(self, text: str) -> None:
        await self.client.start_io(sys.executable, "-m", "gradfix", "server")
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=self.root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=self.root.as_uri(), name="bench")]))
        self.client.initialized(types.InitializedParams())
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=self.uri, language_id="python", version=1, text=text)))
        await self.wait_for(1)

    async def wait_for(self, version: int) -> list[types.Diagnostic]:
        while version not in self.diagnostics:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 60)
        return self.diagnostics[version]

    async def edit_and_save(self, text: str) -> float:
        """Seconds from sending the change to receiving the diagnostics of the new version."""
        self.version += 1
        start = time.perf_counter()
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))
        self.client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(self.uri)))
        await self.wait_for(self.version)
        return time.perf_counter() - start

    async def timed(self, request) -> tuple[float, object]:
        start = time.perf_counter()
        answer = await request
        return time.perf_counter() - start, answer

    async def code_actions(self, at: types.Range, only=None):
        return await self.timed(self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(self.uri), range=at,
            context=types.CodeActionContext(diagnostics=[], only=only))))

    async def hover(self, at: types.Position):
        return await self.timed(self.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(self.uri), position=at)))

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux), unaffected by other processes competing for the cores."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def edited(text: str, round_number: int) -> str:
    return text.replace("hidden.numpy() / scale", f"hidden.numpy() / scale  # round {round_number}", 1)


async def server_figures(root: Path, path: Path, text: str, rounds: int) -> dict[str, list[float]]:
    session = Session(root, path)
    await session.start(text)
    figures: dict[str, list[float]] = {"check": [], "check cpu": [], "quick fix": [], "hover": [], "fix-all": []}
    for round_number in range(3):  # warm-up
        await session.edit_and_save(edited(text, round_number))
    pid = session.client._server.pid
    cpu_before = cpu_seconds(pid)
    for round_number in range(rounds):
        figures["check"].append(await session.edit_and_save(edited(text, 100 + round_number)))
    if cpu_before is not None:
        figures["check cpu"] = [(cpu_seconds(pid) - cpu_before) / rounds]
    for round_number in range(rounds):
        await session.edit_and_save(edited(text, 200 + round_number))
        diagnostic = session.diagnostics[session.version][round_number % 10]
        quick_fix, fixes = await session.code_actions(diagnostic.range, only=[types.CodeActionKind.QuickFix])
        hover, answer = await session.hover(diagnostic.range.start)
        fix_all, fixed = await session.code_actions(types.Range(start=types.Position(0, 0), end=types.Position(0, 0)),
                                                    only=[types.CodeActionKind.SourceFixAll])
        assert fixes and answer and fixed, "the server answered every request"
        for name, seconds in (("quick fix", quick_fix), ("hover", hover), ("fix-all", fix_all)):
            figures[name].append(seconds)
    await session.stop()
    return figures


def process_seconds(command: list[str], cwd: Path, rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds of each measurement (default 30)")
    args = parser.parse_args()
    compile_bytecode()  # as an installed gradfix has it: the one-file CLI row would otherwise compile every module
    text = model_file()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        path = root / "model.py"
        path.write_text(text, encoding="utf-8")
        figures = asyncio.run(server_figures(root, path, text, args.rounds))
        cli_rounds = max(3, args.rounds // 5)
        python = process_seconds([sys.executable, "-c", "pass"], root, cli_rounds)
        cli = process_seconds([sys.executable, "-m", "gradfix", "check", "--no-cache", path.name], root, cli_rounds)
    print(f"{text.count(chr(10))}-line file, {text.count('hidden.numpy()')} findings; medians of {args.rounds} "
          f"rounds (server) and {cli_rounds} runs (processes); typing adds the {DEBOUNCE_SECONDS * 1000:.0f} ms "
          f"debounce to the check; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall-clock "
          "figures grow with it, CPU time does not)")
    rows = [("warm server: edit + save -> diagnostics", median_ms(figures["check"]), "< 100 ms"),
            ("  the server's CPU time for it (mean)", median_ms(figures["check cpu"] or [float("nan")]), ""),
            ("warm server: quick fixes at a finding", median_ms(figures["quick fix"]), "< 100 ms"),
            ("warm server: hover on a finding", median_ms(figures["hover"]), "< 100 ms"),
            ("warm server: fix-all (first request of a version)", median_ms(figures["fix-all"]), ""),
            ("python -c pass (start-up floor)", median_ms(python), ""),
            ("gradfix check --no-cache FILE (one-file CLI)", median_ms(cli), "< 500 ms")]
    print(f"{'measurement (same run)':52} {'ms':>8}  target")
    for label, value, target in rows:
        print(f"{label:52} {value:8.1f}  {target}")


if __name__ == "__main__":
    main()
