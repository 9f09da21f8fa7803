"""Notebooks: code cells analysed and fixed as Python, findings named by cell, and the file written back
byte-identical except the `source` of the cells that were fixed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gradfix.cli import app
from gradfix.notebook import NotebookSource

IMPORTS = ["%matplotlib inline\n", "!pip install -q tensorflow\n", "import numpy as np\n", "import tensorflow as tf"]
LAYER = ["class Scale(tf.keras.layers.Layer):\n", "    def call(self, inputs):\n",
         "        return np.tanh(inputs) * 2.0"]
FIXED_LINE = "        return tf.math.tanh(inputs) * 2.0"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

runner = CliRunner()


def invoke(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def code_cell(source, count=None, outputs=(), metadata=None):
    return {"cell_type": "code", "execution_count": count, "metadata": metadata or {}, "outputs": list(outputs),
            "source": source}


def notebook(*cells, **dump_options) -> str:
    """A notebook as Jupyter writes it (indent 1, non-ASCII kept, final newline) unless told otherwise."""
    document = {"cells": list(cells),
                "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                             "language_info": {"name": "python", "version": "3.11.7"}},
                "nbformat": 4, "nbformat_minor": 5}
    options = {"indent": 1, "ensure_ascii": False, **dump_options}
    return json.dumps(document, **options) + "\n"


def experiment() -> str:
    return notebook(
        {"cell_type": "markdown", "metadata": {}, "source": ["# Expérience\n", "Why is the loss flat?"]},
        code_cell(IMPORTS, 1),
        code_cell(LAYER, 2, [{"output_type": "display_data", "metadata": {},
                              "data": {"image/png": PNG, "text/plain": ["<Figure size 640x480 with 1 Axes>"]}}],
                  {"tags": ["model"], "collapsed": False}),
        code_cell("layer = Scale()\nlayer?\nfiles = !ls\n%time out = layer(tf.ones((2, 3)))", 3,
                  [{"name": "stdout", "output_type": "stream", "text": ["CPU times: user 1 ms\n"]}]),
        code_cell(["%%bash\n", "echo np.tanh(inputs)"], 4),
    )


@pytest.fixture
def experiment_file(in_tmp):
    path = in_tmp / "experiment.ipynb"
    path.write_text(experiment(), encoding="utf-8")
    return path


def test_findings_name_the_cell_and_the_line_in_it(experiment_file):
    result = invoke("check", experiment_file.name)
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("experiment.ipynb:cell 3:line 3:col 16: GF101 [*] np.tanh()")
    finding, = json.loads(invoke("check", "--output-format", "json", experiment_file.name).stdout)
    assert (finding["cell"], finding["location"], finding["fix"]["edits"][0]["cell"]) == (
        3, {"row": 3, "column": 16}, 3)


def test_apply_changes_only_the_fixed_cell_source(experiment_file):
    before = experiment_file.read_bytes()
    result = invoke("apply", experiment_file.name)
    assert result.exit_code == 0, result.output
    expected = before.replace(b'"        return np.tanh(inputs) * 2.0"', json.dumps(FIXED_LINE).encode())
    assert expected != before
    assert experiment_file.read_bytes() == expected, "outputs, metadata, magics and formatting are untouched"
    assert invoke("check", experiment_file.name).exit_code == 0
    assert invoke("undo").exit_code == 0
    assert experiment_file.read_bytes() == before


def test_dry_run_shows_the_cell_diff(experiment_file):
    before = experiment_file.read_bytes()
    result = invoke("apply", "--dry-run", experiment_file.name)
    assert result.exit_code == 0
    assert result.stdout == (
        "--- a/experiment.ipynb:cell 3\n+++ b/experiment.ipynb:cell 3\n@@ -1,3 +1,3 @@\n"
        " class Scale(tf.keras.layers.Layer):\n     def call(self, inputs):\n"
        "-        return np.tanh(inputs) * 2.0\n\\ No newline at end of file\n"
        f"+{FIXED_LINE}\n\\ No newline at end of file\n")
    assert experiment_file.read_bytes() == before


@pytest.mark.parametrize("style", [
    {"indent": 2, "ensure_ascii": True},
    {"indent": None, "separators": (",", ":")},
    {"indent": 4, "sort_keys": True},
])
def test_other_json_styles_and_string_sources_are_kept(in_tmp, style):
    layer = "".join(LAYER) + "  # tanh × 2"
    text = notebook({"cell_type": "markdown", "metadata": {}, "source": "café ☕"},
                    code_cell("import numpy as np\nimport tensorflow as tf\n\n" + layer), **style).rstrip("\n")
    path = in_tmp / "styled.ipynb"
    path.write_text(text, encoding="utf-8")
    assert invoke("apply", path.name).exit_code == 0
    ensure_ascii = style.get("ensure_ascii", False)
    fixed = layer.replace("np.tanh", "tf.math.tanh")
    expected = text.replace(json.dumps(layer, ensure_ascii=ensure_ascii)[1:-1],
                            json.dumps(fixed, ensure_ascii=ensure_ascii)[1:-1])
    assert expected != text and path.read_text(encoding="utf-8") == expected


def test_tensorflow_import_is_added_in_a_cell(in_tmp):
    path = in_tmp / "keras2.ipynb"  # tf_keras: a Keras 3 notebook without TensorFlow would get keras.ops instead
    path.write_text(notebook(code_cell(["import numpy as np\n", "import tf_keras as keras"]),
                             code_cell([line.replace("tf.keras", "keras") for line in LAYER])), encoding="utf-8")
    assert invoke("apply", path.name).exit_code == 0
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    assert cells[0]["source"] == ["import numpy as np\n", "import tf_keras as keras\n", "import tensorflow as tf"]
    assert cells[1]["source"][-1] == FIXED_LINE


def test_cells_that_are_not_python_are_left_out(in_tmp):
    path = in_tmp / "mixed.ipynb"
    text = notebook(code_cell(IMPORTS), code_cell(["def broken(:\n", "    pass"]), code_cell(LAYER),
                    code_cell(["%%writefile layer.py\n", *LAYER]))
    path.write_text(text, encoding="utf-8")
    result = invoke("check", "--output-format", "concise", path.name)
    assert result.exit_code == 1, result.output
    assert [line.split(": ")[0] for line in result.stdout.splitlines()] == ["mixed.ipynb:cell 3:line 3:col 16"]


def test_skip_file_in_a_cell_skips_the_notebook(in_tmp):
    path = in_tmp / "skipped.ipynb"
    path.write_text(notebook(code_cell(["# gradfix: skip-file\n", *IMPORTS]), code_cell(LAYER)), encoding="utf-8")
    assert invoke("check", path.name).exit_code == 0


def test_folders_include_notebooks_but_not_checkpoints(in_tmp):
    (in_tmp / ".ipynb_checkpoints").mkdir()
    for path in (in_tmp / "a.ipynb", in_tmp / ".ipynb_checkpoints" / "a-checkpoint.ipynb"):
        path.write_text(experiment(), encoding="utf-8")
    result = invoke("check", "--output-format", "concise", ".")
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == ["a.ipynb"]


@pytest.mark.parametrize("content, reason", [
    ("{not json", "not valid notebook JSON"),
    ('{"nbformat": 3, "worksheets": []}', "no `cells`"),
    ('{"cells": [{"cell_type": "code", "source": 3}]}', "neither a string nor a list"),
])
def test_broken_notebooks_are_errors_and_stay_untouched(in_tmp, content, reason):
    path = in_tmp / "broken.ipynb"
    path.write_text(content)
    result = invoke("apply", path.name)
    assert result.exit_code == 2 and reason in result.stderr
    assert path.read_text() == content


def test_stdin_mode_returns_the_notebook(in_tmp):
    result = invoke("apply", "-", "--stdin-filename", "experiment.ipynb", input=experiment())
    assert result.exit_code == 0
    assert json.loads(result.stdout)["cells"][2]["source"][-1] == FIXED_LINE


def test_virtual_source_masks_ipython_lines_and_restores_them():
    source = NotebookSource.from_bytes(experiment().encode())
    assert "%matplotlib" not in source.text and "!ls" not in source.text and "%%bash" not in source.text
    cells = source.cell_sources(source.text)
    assert sorted(cells) == [2, 3, 4], "the %%bash cell is not Python"
    assert cells[2] == "".join(IMPORTS) and cells[4].endswith("files = !ls\n%time out = layer(tf.ones((2, 3)))")
    assert source.to_bytes() == experiment().encode()


def test_outputs_do_not_count_against_max_file_size(in_tmp):
    (in_tmp / "pyproject.toml").write_text("[tool.gradfix]\nmax-file-size = 2000\n")
    plots = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG * 100}}]
    path = in_tmp / "plots.ipynb"
    path.write_text(notebook(code_cell(IMPORTS), code_cell(LAYER, 1, plots)), encoding="utf-8")
    assert path.stat().st_size > 2000
    assert invoke("check", path.name).exit_code == 1
    (in_tmp / "big.py").write_text("x = 1\n" * 400)
    result = invoke("check", "big.py")
    assert result.exit_code == 2 and "over the max-file-size of 2000" in result.stderr
