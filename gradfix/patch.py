"""Atomic writes, and the undo record of the last `apply` (its diffs are the documents' `file_diff`).

The undo record keeps the exact patch that `apply` wrote (read back with unidiff) plus a hash of every
file before and after, so `undo` can refuse when a file changed since and can prove that it restored
the original bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from unidiff import PatchSet

from gradfix.source import SourceText

UNDO_RECORD = Path(".gradfix") / "last-apply.json"


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder + rename: a crash leaves the old or the new file."""
    target = Path(os.path.realpath(path))
    mode = target.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".gradfix-tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class AppliedFile:
    path: str  # absolute
    display: str  # as shown in the diff
    encoding: str
    bom: bool
    before_sha: str
    after_sha: str


def save_undo_record(files: list[AppliedFile], patch: str, state_dir: Path | None = None) -> Path:
    record = (state_dir or Path.cwd()) / UNDO_RECORD
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"files": [f.__dict__ for f in files], "patch": patch}, indent=1),
                      encoding="utf-8")
    return record


class UndoError(Exception):
    pass


def undo_last_apply(state_dir: Path | None = None) -> list[str]:
    """Revert the last apply exactly; refuse (naming the files) if any changed since. Returns the paths."""
    record_path = (state_dir or Path.cwd()) / UNDO_RECORD
    if not record_path.is_file():
        raise UndoError("nothing to undo: no record of a previous `gradfix apply` in this folder")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    files = [AppliedFile(**f) for f in record["files"]]
    current = {}
    changed = []
    for applied in files:
        try:
            data = Path(applied.path).read_bytes()
        except OSError as exc:
            changed.append(f"{applied.display} ({exc.strerror})")
            continue
        current[applied.path] = data
        if sha256(data) != applied.after_sha:
            changed.append(applied.display)
    if changed:
        raise UndoError("refusing to undo: changed since the last apply: " + ", ".join(changed))
    patches = PatchSet(record["patch"])
    restored = {}
    for applied, patched_file in zip(files, patches):
        bom = "\ufeff" if applied.bom else ""
        text = current[applied.path][3 if applied.bom else 0:].decode(applied.encoding)
        original = reverse_patch(bom + text, patched_file)
        data = SourceText(original[len(bom):], applied.encoding, applied.bom).to_bytes()
        if sha256(data) != applied.before_sha:
            raise UndoError(f"cannot restore {applied.display} exactly; nothing was changed")
        restored[applied.path] = data
    for path, data in restored.items():
        atomic_write(Path(path), data)
    record_path.unlink()
    return [f.display for f in files]


def reverse_patch(text: str, patched_file) -> str:
    """Apply one file's hunks backwards: the patched text in, the original text out."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    position = 0
    for hunk in patched_file:
        start = hunk.target_start - 1 if hunk.target_length else hunk.target_start
        out.extend(lines[position:start])
        previous = None
        for line in hunk:
            if line.is_context or line.is_removed:
                out.append(line.value)
            elif line.line_type == "\\" and previous is not None and not previous.is_added:
                out[-1] = out[-1][:-1]  # the marker says the source line had no final newline
            previous = line
        position = start + hunk.target_length
    out.extend(lines[position:])
    return "".join(out)
