"""What keeps gradfix fast on real codebases, as behaviour rather than timings: TensorFlow is never imported,
files that cannot have a finding are never parsed, the process pool is not started for a handful of files,
and a second run is answered from the cache — which must never hide or invent a finding."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

import gradfix.cache
import gradfix.config
import gradfix.runner
import gradfix.rules
import gradfix.source
from gradfix.codemods._variables import walk_function, walk_function_statements
from conftest import FIXTURES, ROOT
from gradfix.analysis import FileAnalysis, ProjectIndex, ValueAnalysis
from gradfix.analysis.classes import _self_calls_in, may_call_self
from gradfix.analysis.imports import ImportMap, scan_imports
from gradfix.analysis.keras import class_headers
from gradfix.analysis.program import AttributeCache
from gradfix.analysis.statements import walk_statements
from gradfix.cache import CACHE_FOLDER
from gradfix.cli import app
from gradfix.config import Config
from gradfix.lsp.project import Project, read_source
from gradfix.runner import PARALLEL_MIN_CHARS, RunOptions, run

SCALE = """import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs.numpy() * 2
"""
PLAIN_BASE = "class Base:\n    pass\n"
KERAS_BASE = "import tensorflow as tf\n\n\nclass Base(tf.keras.layers.Layer):\n    pass\n"
BLOCK = """import numpy as np
import tensorflow as tf

from base import Base


class Block(Base):
    def call(self, inputs):
        return inputs.numpy() * 2
"""
NOT_KERAS = "import numpy as np\n\n\ndef mean(values):\n    return np.mean(values)\n"
NOTEBOOK = json.dumps({"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                  "source": SCALE.splitlines(keepends=True)}],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


@pytest.fixture
def project(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name, text in {"scale.py": SCALE, "base.py": PLAIN_BASE, "block.py": BLOCK, "stats.py": NOT_KERAS,
                       "scale.ipynb": NOTEBOOK}.items():
        (source / name).write_text(text, encoding="utf-8")
    return tmp_path


@pytest.fixture
def processed(monkeypatch):
    """The paths gradfix parses and analyses (in this process), run by run."""
    seen: list[str] = []
    real = gradfix.runner.process_source

    def counting(path, *args):
        seen.append(os.path.basename(path))
        return real(path, *args)

    monkeypatch.setattr(gradfix.runner, "process_source", counting)
    return seen


def run_cached(project, **options):
    options.setdefault("jobs", 1)
    return run([project / "src"], RunOptions(cache=True, **options), Config(root=project))


def answers(report) -> list:
    """What a run tells the user: each file's findings, fixed text and error, and the run's errors."""
    return [(r.path, r.diagnostics, r.fixed and r.fixed.text, r.error) for r in report.results] + report.errors


def codes(report, name):
    return sorted(d.code for r in report.results if r.path.endswith(name) for d in r.diagnostics)


# --- TensorFlow ------------------------------------------------------------------------------------------

WATCH_IMPORTS = """
import json, sys
from gradfix.cli import main
sys.argv = ["gradfix", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "torch", "jax"))
print(json.dumps(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("verb", [["check"], ["apply", "--dry-run"], ["apply"]])
def test_check_and_apply_never_import_tensorflow(tmp_path, verb):
    for path in (FIXTURES / "demo").glob("*.py"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "scale.py").write_text(SCALE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", WATCH_IMPORTS, *verb, "--no-cache", "."], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    heavy = json.loads(done.stderr.strip().splitlines()[-1])
    assert heavy == []
    if verb == ["apply"]:
        assert (tmp_path / "scale.py").read_text(encoding="utf-8") != SCALE, "apply did its work"


def lsp_session(root, text: str) -> bytes:
    """What an editor sends: initialize, open a file, ask for fix-all, shut down."""
    uri = (root / "scale.py").as_uri()
    messages = [
        {"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}},
        {"method": "initialized", "params": {}},
        {"method": "textDocument/didOpen", "params": {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}}},
        {"id": 2, "method": "textDocument/codeAction", "params": {
            "textDocument": {"uri": uri}, "context": {"diagnostics": [], "only": ["source.fixAll"]},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}}},
        {"id": 3, "method": "shutdown"},
        {"method": "exit"},
    ]
    bodies = [json.dumps({"jsonrpc": "2.0", **m}).encode() for m in messages]
    return b"".join(b"Content-Length: %d\r\n\r\n%s" % (len(body), body) for body in bodies)


def test_the_language_server_never_imports_tensorflow(tmp_path):
    done = subprocess.run([sys.executable, "-c", WATCH_IMPORTS, "server"], cwd=tmp_path, capture_output=True,
                          input=lsp_session(tmp_path, SCALE), timeout=120)
    heavy = json.loads(done.stderr.decode().strip().splitlines()[-1])
    assert heavy == []
    assert b'"code": "GF102"' in done.stdout and b"inputs * 2" in done.stdout, "it checked and fixed the file"


CLEAN = "import tensorflow as tf\n\n\nclass Dense(tf.keras.layers.Layer):\n    def call(self, inputs):\n" \
        "        return tf.matmul(inputs, self.kernel)\n"
WATCH_LIBCST = WATCH_IMPORTS.replace('m.split(".")[0] in ("tensorflow", "keras", "tf_keras", "torch", "jax")',
                                     'm.startswith("libcst.")')


def libcst_modules(folder, *arguments) -> list[str]:
    done = subprocess.run([sys.executable, "-c", WATCH_LIBCST, *arguments], cwd=folder, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_libcst_is_imported_only_when_a_fix_is_written(tmp_path):
    """`check` only needs to know that a fix exists; LibCST (which costs more to import than checking a
    file) is imported when the fix is written, to re-parse the result."""
    (tmp_path / "clean.py").write_text(CLEAN, encoding="utf-8")
    (tmp_path / "scale.py").write_text(SCALE, encoding="utf-8")
    assert libcst_modules(tmp_path, "check", "--no-cache", "clean.py") == []
    assert libcst_modules(tmp_path, "check", "--no-cache", "scale.py") == []
    assert libcst_modules(tmp_path, "check", "--no-cache", "--output-format", "json", "scale.py") == []
    assert libcst_modules(tmp_path, "apply", "--no-cache", "--dry-run", "scale.py") != []


NUMPY_ON_TENSOR = """import numpy as np
import tensorflow as tf


class Scale(tf.keras.layers.Layer):
    def call(self, inputs):
        return np.tanh(inputs) * 2
"""


def test_check_of_a_fixable_numpy_call_does_not_import_libcst(tmp_path):
    """The finding shows the TF form of the call, which gradfix/numpy_to_tf.py writes as text: no LibCST."""
    (tmp_path / "scale.py").write_text(NUMPY_ON_TENSOR, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gradfix", "check", "--no-cache", "scale.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "GF101 [*]" in done.stdout, "the finding has a fix"
    assert libcst_modules(tmp_path, "check", "--no-cache", "scale.py") == []


def test_libcst_is_deferred_without_a_stand_in_in_sys_modules():
    """gradfix imports LibCST only to re-parse a fixed file, with plain imports, and never puts anything of its own
    in sys.modules or in place of the module: a user's `import libcst` in the same process (the server, a plugin,
    pytest) gets the real module. Translating a numpy call needs no LibCST."""
    code = ("import sys, gradfix.engine, gradfix.numpy_to_tf as n, gradfix.codemods._numpy_calls\n"
            "assert 'libcst' not in sys.modules, 'imported at import time'\n"
            "assert not hasattr(gradfix.engine, 'cst') and not hasattr(n, 'cst'), 'a stand-in for libcst'\n"
            "context = n.TranslationContext('tf', lambda e: None, lambda e: 2)\n"
            "assert n.translate('tanh', n.CallText.parse('np.tanh(x)'), context).replacement == 'tf.math.tanh(x)'\n"
            "assert 'libcst' not in sys.modules, 'imported to translate'\n"
            "import libcst as cst, libcst.matchers as m\n"
            "assert type(cst).__name__ == 'module' and m.matches(cst.parse_expression('x'), m.Name('x'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- cheap checks first ----------------------------------------------------------------------------------

def test_files_that_cannot_have_a_finding_are_never_parsed(project, processed):
    run(sorted(project.joinpath("src").glob("*.py")), RunOptions(jobs=1), Config())
    # base.py and stats.py have no Keras/TF marker; block.py's Block derives from a plain class: no Keras class
    assert sorted(processed) == ["scale.py"]


def test_no_collection_inside_a_file_and_its_analysis_freed_after_it(project, monkeypatch):
    import gc
    inside = []
    real = gradfix.runner.process_source
    monkeypatch.setattr(gradfix.runner, "process_source", lambda *a: inside.append(gc.isenabled()) or real(*a))
    report = run(sorted(project.joinpath("src").glob("*.py")), RunOptions(jobs=1), Config())
    assert codes(report, "scale.py") == ["GF102"] and inside == [False]
    assert gc.isenabled(), "collection is back on after the run"
    gc.disable()  # as it was before: only the run's own collection can have freed the analysis
    try:
        run(sorted(project.joinpath("src").glob("*.py")), RunOptions(jobs=1), Config())
        assert not [o for o in gc.get_objects() if isinstance(o, FileAnalysis)], "the file's cycles were collected"
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_analysis_is_freed_without_a_garbage_collection(project, monkeypatch):
    """Its tree and flows refer to one another: `release` breaks that, so the collection after each file has
    little left to scan."""
    import gc
    import weakref

    import gradfix.engine
    made = []

    class Tracked(FileAnalysis):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(gradfix.engine, "FileAnalysis", Tracked)
    source = gradfix.source.SourceText(SCALE)
    gc.disable()
    try:
        result = gradfix.engine.process_source("scale.py", source, gradfix.rules.select_rules(None, None),
                                               gradfix.engine.Settings(fix=True), ProjectIndex.build([SCALE]))
        assert [d.code for d in result.diagnostics] == ["GF102"] and result.fixed is not None
        assert made and all(ref() is None for ref in made), "freed by reference counting alone"
    finally:
        gc.enable()


def test_the_pool_is_not_started_for_a_handful_of_files(project, monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a process pool was started")

    monkeypatch.setattr(gradfix.runner.futures, "ProcessPoolExecutor", no_pool)
    report = run([project / "src"], RunOptions(jobs=2), Config())
    assert codes(report, "scale.py") == ["GF102"]


def many_layers(tmp_path, chars: int):
    body = "".join(SCALE.replace("Scale", f"Scale{n}") for n in range(chars // len(SCALE) // 10 + 1))
    for n in range(10):
        (tmp_path / f"layers{n}.py").write_text(body, encoding="utf-8")


def test_the_pool_is_started_when_there_is_enough_text_to_parse(tmp_path, monkeypatch):
    started = []
    real = gradfix.runner.futures.ProcessPoolExecutor

    def recording(*args, **kwargs):
        started.append(kwargs["max_workers"])
        return real(*args, **kwargs)

    monkeypatch.setattr(gradfix.runner.futures, "ProcessPoolExecutor", recording)
    many_layers(tmp_path, PARALLEL_MIN_CHARS)
    report = run([tmp_path], RunOptions(jobs=2), Config())
    assert started == [2]
    assert len(report.diagnostics) == 10 * (PARALLEL_MIN_CHARS // len(SCALE) // 10 + 1)


def test_a_worker_that_dies_costs_no_file(tmp_path, monkeypatch):
    parent = os.getpid()
    real = gradfix.runner.process_source

    def dying(*args):
        if os.getpid() != parent:
            os._exit(1)  # as when the kernel kills a worker that ran out of memory
        return real(*args)

    monkeypatch.setattr(gradfix.runner, "process_source", dying)
    many_layers(tmp_path, PARALLEL_MIN_CHARS)
    report = run([tmp_path], RunOptions(jobs=2), Config())
    assert not report.errors
    assert all(r.diagnostics for r in report.results)


# --- the cache -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fix", [False, True], ids=["check", "apply"])
def test_a_second_run_is_answered_from_the_cache_with_the_same_results(project, processed, fix):
    first = run_cached(project, fix=fix)
    assert sorted(processed) == ["scale.ipynb", "scale.py"]
    processed.clear()
    second = run_cached(project, fix=fix)
    assert processed == []
    assert answers(second) == answers(first)
    assert (second == first) is fix, "a check of an unchanged tree reads no file (RunSnapshot): no `original`"
    notebook = next(r for r in second.results if r.path.endswith(".ipynb"))
    assert [(d.code, d.cell) for d in notebook.diagnostics] == [("GF102", 1)]
    assert notebook.changed == fix


def test_an_unchanged_tree_is_checked_without_reading_a_file(project, monkeypatch):
    first = run_cached(project)
    monkeypatch.setattr(gradfix.runner, "_read_all", lambda *args: pytest.fail("a file was read"))
    assert answers(run_cached(project)) == answers(first)


def test_a_file_or_a_base_module_outside_the_run_that_changed_is_read_again(project):
    block = project / "src" / "block.py"

    def check_block():
        return codes(run([block], RunOptions(cache=True, jobs=1), Config(root=project)), "block.py")

    assert check_block() == []
    (project / "src" / "base.py").write_text(KERAS_BASE, encoding="utf-8")  # not named in the run: probed
    assert check_block() == ["GF102"]
    block.write_text(BLOCK.replace("* 2", "* 3"), encoding="utf-8")  # the same size
    assert check_block() == ["GF102"]
    block.write_text(BLOCK.replace("inputs.numpy() * 2", "inputs * 2"), encoding="utf-8")
    assert check_block() == []
    (project / "src" / "base.py").unlink()
    (project / "src" / "base").mkdir()  # the module becomes a package: a file looked for, not there before
    (project / "src" / "base" / "__init__.py").write_text(KERAS_BASE, encoding="utf-8")
    block.write_text(BLOCK, encoding="utf-8")
    assert check_block() == ["GF102"]
    (project / "src" / "base" / "__init__.py").write_text(PLAIN_BASE, encoding="utf-8")
    assert check_block() == []


def test_only_a_changed_file_is_processed_again(project, processed):
    run_cached(project)
    processed.clear()
    (project / "src" / "scale.py").write_text(SCALE.replace("* 2", "* 3"), encoding="utf-8")
    report = run_cached(project)
    assert processed == ["scale.py"]
    assert codes(report, "scale.py") == ["GF102"]


def test_a_class_becoming_a_layer_elsewhere_is_never_hidden_by_the_cache(project, processed):
    assert codes(run_cached(project), "block.py") == []  # Base is a plain class: Block is no layer
    processed.clear()
    (project / "src" / "base.py").write_text(KERAS_BASE, encoding="utf-8")
    report = run_cached(project)
    assert codes(report, "block.py") == ["GF102"]
    assert "block.py" in processed and "scale.py" not in processed, "only files that name `Base` are redone"
    processed.clear()
    (project / "src" / "base.py").write_text(PLAIN_BASE, encoding="utf-8")
    assert codes(run_cached(project), "block.py") == [], "nor is a finding invented when it stops being one"
    assert "block.py" not in processed, "it defines no Keras class again: screened out, not answered from the cache"


@pytest.mark.parametrize("change", [{"select": ["GF101"]}, {"ignore": ["GF102"]}, {"fix": True},
                                    {"unsafe_fixes": True}])
def test_rules_and_settings_are_part_of_the_key(project, processed, change):
    run_cached(project)
    processed.clear()
    run_cached(project, **change)
    assert "scale.py" in processed


def test_per_file_ignores_are_part_of_the_key(project, processed):
    run_cached(project)
    processed.clear()
    config = Config(root=project, per_file_ignores={"scale.py": ["GF102"]})
    report = run([project / "src"], RunOptions(jobs=1, cache=True), config)
    assert codes(report, "scale.py") == [] and "scale.py" in processed


def test_new_gradfix_code_starts_a_new_cache_and_drops_the_old(project, processed, monkeypatch):
    run_cached(project)
    old = [p for p in (project / CACHE_FOLDER).iterdir() if p.is_dir()]
    monkeypatch.setattr(gradfix.cache, "code_fingerprint", lambda: "edited-rules")
    processed.clear()
    run_cached(project)
    assert "scale.py" in processed
    assert [p.name for p in (project / CACHE_FOLDER).iterdir() if p.is_dir()] == ["edited-rules"]
    assert not any(p.exists() for p in old)


def test_a_damaged_cache_entry_is_a_miss(project, processed):
    first = run_cached(project)
    for entry in (project / CACHE_FOLDER).rglob("*.json"):
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    processed.clear()
    assert run_cached(project) == first
    assert sorted(processed) == ["scale.ipynb", "scale.py"]


def test_index_facts_of_the_wrong_shape_are_recomputed(project):
    first = run_cached(project)
    (facts_file,) = (project / CACHE_FOLDER).rglob("index-facts.json")
    facts = json.loads(facts_file.read_text(encoding="utf-8"))
    facts_file.write_text(json.dumps({digest: [["Base", [3]]] for digest in facts}), encoding="utf-8")
    for snapshot in (project / CACHE_FOLDER).rglob("runs/*.json"):
        snapshot.unlink()  # or the unchanged tree is answered without the index
    assert run_cached(project) == first


def test_the_cache_lives_next_to_the_config_and_ignores_itself(project):
    run_cached(project)
    assert (project / CACHE_FOLDER / ".gitignore").read_text(encoding="utf-8").splitlines()[-1] == "*"


def test_no_cache_writes_no_cache(project, monkeypatch):
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["check", "--no-cache", "src"])
    assert result.exit_code == 1
    assert not (project / ".gradfix").exists()
    result = CliRunner().invoke(app, ["check", "src"])
    assert result.exit_code == 1
    assert (project / CACHE_FOLDER).is_dir()


@pytest.mark.parametrize("path", [".gradfix/cache/ab/entry.json", "benchmarks/.cache/wheels/keras.whl"])
def test_the_repository_does_not_track_caches(path):
    assert subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


# --- analysis that walks less ----------------------------------------------------------------------------

@pytest.mark.parametrize("folder", ["fixtures", "gradfix", "codemods", "tests"])
def test_walking_statements_finds_every_statement_in_source_order(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_bytes())
        walked = list(walk_statements(tree))
        assert {id(n) for n in walked} == {id(n) for n in ast.walk(tree) if isinstance(n, ast.stmt)}, path
        assert len(walked) == len({id(n) for n in walked}), path
        positions = [(n.lineno, n.col_offset) for n in walked]
        assert positions == sorted(positions), path


@pytest.mark.parametrize("folder", ["fixtures", "gradfix", "codemods", "tests"])
def test_walking_a_function_s_statements_yields_walk_function_s_statements_in_its_order(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        for function in ast.walk(ast.parse(path.read_bytes())):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                expected = [n for n in walk_function(function) if isinstance(n, ast.stmt)]
                assert list(walk_function_statements(function)) == expected, (path, function.lineno)


def _exhaustive_gradient_sites(tree: ast.Module, analysis: FileAnalysis) -> tuple[set, set]:
    """Every `with` opening a GradientTape and every `minimize(lambda ...)`, from a walk of every node."""
    from gradfix.analysis.tapes import _bindings, _tapes_of, own_nodes
    tapes, losses = set(), set()
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        nodes = list(own_nodes(scope))
        bindings = _bindings(nodes)
        tapes |= {id(t.node) for n in nodes if isinstance(n, (ast.With, ast.AsyncWith))
                  for t in _tapes_of(n, scope, analysis.imports, bindings, bindings)}
        losses |= {id(n.args[0]) for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                   and n.func.attr == "minimize" and n.args and isinstance(n.args[0], ast.Lambda)
                   and (len(n.args) > 1 or any(k.arg == "var_list" for k in n.keywords))
                   and not any(k.arg == "tape" for k in n.keywords)}
    return tapes, losses


@pytest.mark.parametrize("folder", ["fixtures", "tests"])
def test_tapes_and_loss_callables_found_from_the_statements_are_all_there_are(folder):
    """GradientTape blocks are looked for from the statements, and `minimize(lambda ...)` only in the
    functions with a statement over a line that says `minimize`: nothing a walk of every node finds is missed."""
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "GradientTape" not in text and "minimize" not in text:
            continue
        analysis = FileAnalysis.from_text(text)
        tapes, losses = _exhaustive_gradient_sites(analysis.tree, analysis)
        assert {id(t.node) for t in analysis.tapes} == tapes, path
        assert {id(c.node) for c in analysis.loss_callables} == losses, path


@pytest.mark.parametrize("call", ["opt.minimize(lambda: tf.reduce_sum(model(x)), model.trainable_variables)",
                                  "opt.minimize(\n            lambda: tf.reduce_sum(model(x)),\n"
                                  "            model.trainable_variables)"])
def test_a_minimize_call_is_found_past_form_feeds_in_a_nested_function(call):
    text = ("import tensorflow as tf\n\x0c\n# \x0c a form feed is no line break for ast\n"
            f"def train(opt, model, x):\n    def step():\n        {call}\n    step()\n    return x\n")
    analysis = FileAnalysis.from_text(text)
    assert [c.node.lineno for c in analysis.loss_callables] == [6 + ("\n" in call)]  # the lambda's line


@pytest.mark.parametrize("folder", ["fixtures", "tests", "gradfix"])
def test_the_class_header_screen_never_misses_a_keras_class(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        analysis = FileAnalysis.from_text(text)
        if analysis.keras_classes:
            assert analysis.index.may_define_keras_class(text), path
            assert analysis.index.may_define_keras_class(text, ProjectIndex.facts(text)), path


@pytest.mark.parametrize("header", ["class L(tf.keras.layers.Layer):", "class L(\n    tf.keras.layers.Layer):",
                                    "\fclass L(Layer, metaclass=abc.ABCMeta):", "class L(Generic[T], Base):",
                                    "class L(  # a comment (with parentheses)\n    Layer):"])
def test_class_headers_that_may_be_keras_classes(header):
    index = ProjectIndex.build([])
    text = f"import tensorflow as tf\nfrom keras.layers import Layer\n{header}\n    pass\n"
    assert index.may_define_keras_class(text)
    assert not index.may_define_keras_class("import tensorflow as tf\nclass Config(object):\n    pass\n")


def test_the_screen_keeps_every_finding_of_the_fixtures():
    """Rules that look only at Keras classes are skipped on files without one: no fixture finding is lost."""
    from gradfix.engine import applicable_rules, run_rules
    from gradfix.rules import select_rules
    rules = select_rules(None, None)
    for path in sorted(FIXTURES.rglob("*.py")):
        analysis = FileAnalysis.from_text(path.read_text(encoding="utf-8"))
        every = run_rules(analysis, [r for r in rules if any(t in analysis.source.text for t in r.triggers)])
        screened = run_rules(analysis, applicable_rules(analysis.source.text, rules, analysis.index))
        assert [(f.code, f.span) for f in screened] == [(f.code, f.span) for f in every], path


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_lines_with_numbers_lines_as_ast_does(newline):
    from gradfix.analysis.statements import lines_with
    text = newline.join(["compile = 1", "x = 2  # \x0c a form feed", "\x0c", "y = (compile,", "     compile)",
                         "", "z = 'no'", "compile2 = compile"]) + newline
    expected = sorted({n.lineno for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Name) and "compile" in n.id})
    assert lines_with(text, ("compile",)) == expected == [1, 4, 5, 8]
    assert lines_with(text, ("absent",)) == []


def test_text_scans_read_the_first_line_and_every_kind_of_line_break():
    text = "import numpy as np\r\nclass A(keras.layers.Layer): pass\n    from tensorflow import keras\nclass B(A):\n"
    assert scan_imports(text) == {"np": "numpy", "keras": "keras"}
    assert class_headers(text) == [("A", "keras.layers.Layer"), ("B", "A")]


def test_only_the_modules_that_define_imported_bases_are_read(project, monkeypatch):
    """One file checked in a project (an editor's save): the module a class's base is imported from is read
    (`Block(Base)`, `from base import Base`), nothing for `Scale(tf.keras...Layer)`, never the whole project."""
    (project / "pyproject.toml").write_text("[project]\nname = 'demo'\n", encoding="utf-8")
    (project / "src" / "base.py").write_text(KERAS_BASE, encoding="utf-8")
    read = []
    real = gradfix.runner.read_bytes
    monkeypatch.setattr(gradfix.runner, "read_bytes", lambda path, size: read.append(path.name) or real(path, size))
    run([project / "src" / "scale.py"], RunOptions(jobs=1), gradfix.config.ConfigFinder())
    assert read == ["scale.py"]
    read.clear()
    report = run([project / "src" / "block.py"], RunOptions(jobs=1), gradfix.config.ConfigFinder())
    assert read == ["block.py", "base.py"] and codes(report, "block.py") == ["GF102"]


@pytest.mark.parametrize("folder", ["fixtures", "gradfix", "codemods", "tests"])
def test_the_text_screen_for_self_calls_lets_every_method_that_has_one_through(folder):
    for path in sorted((ROOT / folder).rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        values = ValueAnalysis(ast.parse(text), ImportMap(text), None, text=text)
        for function in ast.walk(values.tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)) and _self_calls_in(function):
                assert may_call_self(values.text_of(function)), (path, function.lineno)


@pytest.mark.parametrize("call", ["(self).f(x)", "self \\\n  .f (x)", "(self.f)(x)", "(self  # c\n .f  # d\n (x))",
                                  "(self\n).f(\n)", "ｓｅｌｆ.f(x)"])
def test_every_spelling_of_a_self_call_passes_the_text_screen(call):
    text = f"def g(self):\n    return {call}\n"
    assert _self_calls_in(ast.parse(text).body[0]) == ["f"]
    assert may_call_self(text)


def test_a_method_without_self_calls_is_screened_out():
    assert not may_call_self("def call(self, x):\n    y = self.f + g(self.w)  # not self.h\n    return self.k[0](y)\n")


ATTRIBUTES = """import numpy as np
import tensorflow as tf


def make_scale():
    return {made}


class Base(tf.keras.layers.Layer):
    def setup(self):
        self.offset = {offset}


class Scale(Base):
    def __init__(self):
        super().__init__()
        self.scale = make_scale()
        self.setup()

    def call(self, inputs):
        return inputs * self.scale + self.offset
"""


OTHER_LAYER = """

class Other(tf.keras.layers.Layer):
    def call(self, inputs):
        return inputs
"""


def _scale_attributes(text: str, index: ProjectIndex) -> dict:
    analysis = FileAnalysis.from_text(text, index)
    scale = next(c for c in analysis.keras_classes if c.name == "Scale")
    return {name: value.kind for name, value in analysis.values.class_attributes(scale).items()}


@pytest.mark.parametrize("made, offset", [("np.ones(3)", "1.0"), ("1.0", "1.0"), ("np.ones(3)", "tf.ones(3)")])
def test_cached_class_attributes_follow_the_module_functions_and_base_classes_they_read(made, offset):
    """The server keeps `self.<attr>` values between checks (AttributeCache): a change outside the class that its
    `__init__` reads (a module function, a base class of the file) gives the values of a fresh analysis."""
    before, text = ATTRIBUTES.format(made="np.ones(3)", offset="1.0"), ATTRIBUTES.format(made=made, offset=offset)
    index = ProjectIndex.build([before])
    warm = replace(index, attribute_cache=AttributeCache())
    _scale_attributes(before, warm)
    assert _scale_attributes(text, warm) == _scale_attributes(text, index)


def test_a_class_is_answered_from_the_attribute_cache_while_another_class_is_edited(monkeypatch):
    text = ATTRIBUTES.format(made="np.ones(3)", offset="1.0") + OTHER_LAYER
    warm = replace(ProjectIndex.build([text]), attribute_cache=AttributeCache())
    first = _scale_attributes(text, warm)
    monkeypatch.setattr(ValueAnalysis, "_computed_attributes", lambda *args: pytest.fail("computed again"))
    assert _scale_attributes(text.replace("return inputs\n", "return -inputs\n"), warm) == first


def test_a_warm_server_project_finds_what_a_fresh_analysis_finds():
    """Every fixture checked twice by the server's Project (its attribute cache shared by all files, the second
    time answered from it) gives the findings and fixes of a check without the cache."""
    warm, cold = Project([FIXTURES]), Project([FIXTURES])
    warm.load(), cold.load()
    cold.index.attribute_cache = None
    sources = [(path, read_source(path, gradfix.config.load_config(path))) for path in sorted(FIXTURES.rglob("*.py"))]
    expected = [cold.check(path, source).diagnostics for path, source in sources]
    for _ in range(2):
        assert [warm.check(path, source).diagnostics for path, source in sources] == expected
