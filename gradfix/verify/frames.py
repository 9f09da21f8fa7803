"""Point messages at the user's code: tell user files from library files, and shrink an exception (TensorFlow's
are many lines, nested by autograph and Keras) to one line with the user's file and line."""

from __future__ import annotations

import os
import re
import site
import sysconfig
import traceback
from pathlib import Path
from types import FrameType

_GRADFIX_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_LIBRARY_ROOTS = tuple({os.path.join(root, "") for root in (
    sysconfig.get_paths()["stdlib"], *site.getsitepackages(), site.getusersitepackages(), _GRADFIX_ROOT)})
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_FILE_MENTION = re.compile(r'File "([^"]+)", line (\d+)')
_MAX_MESSAGE = 240


def is_user_file(filename: str) -> bool:
    """False for the standard library, installed packages, gradfix itself and autograph's generated copies."""
    return not (filename.startswith("<") or os.path.basename(filename).startswith("__autograph_generated_file")
                or filename.startswith(_LIBRARY_ROOTS))


def location(filename: str, line: int) -> str:
    path = Path(filename)
    try:
        path = path.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{path}:{line}"


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame of user code on the stack from `frame` outwards."""
    while frame is not None and not is_user_file(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def caller_location(frame: FrameType | None) -> str | None:
    """The innermost user line on the stack from `frame` outwards (for a call inside `fit`: the `fit` line)."""
    frame = user_frame(frame)
    return location(frame.f_code.co_filename, frame.f_lineno) if frame else None


def describe_exception(exc: BaseException) -> str:
    """`file.py:12: TypeError: message` — the innermost user line and the message that explains the error."""
    where = _innermost_user_mention(str(exc)) or _innermost_user_frame(exc)
    text = f"{type(exc).__name__}: {_essential_message(str(exc), type(exc).__name__)}"
    return f"{where}: {text}" if where else text


def _innermost_user_frame(exc: BaseException) -> str | None:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if is_user_file(f.filename)]
    return location(frames[-1].filename, frames[-1].lineno) if frames else None


def _innermost_user_mention(message: str) -> str | None:
    """Errors raised while tracing a tf.function list the user's frames in the message ("in user code:")."""
    mentions = [(f, int(n)) for f, n in _FILE_MENTION.findall(message) if is_user_file(f)]
    return location(*mentions[-1]) if mentions else None


def _essential_message(message: str, type_name: str) -> str:
    lines = [line.strip() for line in _ANSI.sub("", message).splitlines() if line.strip()]
    # autograph nests the original error under "in user code:"; the last "Type: ..." line is the innermost one
    for index in range(len(lines) - 1, -1, -1):
        if lines[index].startswith(f"{type_name}: "):
            lines = [lines[index][len(type_name) + 2:], *lines[index + 1:]]
            break
    # Keras wraps errors from `call` as "Exception encountered when calling X.call()." + the original message
    if len(lines) > 1 and lines[0].startswith("Exception encountered when calling"):
        lines = lines[1:]
    text = lines[0] if lines else ""
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 1] + "…"
