"""Read a file a user handed us (a policy, a verdict, a scanner's report), or say in one line what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def read_text(path: Path, what: str, error: type[HarnessError], *, missing: str) -> str:
    """The file's UTF-8 text, or one line: error('<what> <path> <missing>' | '... is a directory' | ...)."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise error(f"{what} {path} {missing}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory; give a file") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def load_json(path: Path, what: str, error: type[HarnessError], *, missing: str, hint: str) -> Any:
    """json.loads of the file, or one-line error(...) as read_text, plus '... is not valid JSON; hint'."""
    text = read_text(path, what, error, missing=missing)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise error(f"{what} {path} is not valid JSON ({exc}); {hint}") from None
