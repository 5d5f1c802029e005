"""Read a file a user handed us (a policy, a profile, attestations, a verdict, a scanner's report), or say in one
line what is wrong. Every such file goes through read_text(): a regular file only (a FIFO or a device is refused,
never opened for a blocking read), at most MAX_BYTES, UTF-8 (a byte-order mark is accepted); load_toml() and
load_json() also bound the nesting depth, and load_json() refuses NaN/Infinity and duplicate keys."""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

MAX_BYTES = 16 * 1024 * 1024  # no policy, profile, verdict or report the harness reads is anywhere near this
REPORT_MAX_BYTES = 256 * 1024 * 1024  # a scanner's report of a large image
MAX_DEPTH = 64  # tables/arrays inside each other; the deepest real document here is about 8
BOM = b"\xef\xbb\xbf"


def read_bytes(path: Path, what: str, error: type[HarnessError], *, missing: str, limit: int = MAX_BYTES) -> bytes:
    """The file's bytes, or one line: error('<what> <path> <missing>' | '... is a directory' | ...)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise error(f"{what} {path} {missing}") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory; give a file") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise error(f"{what} {path} is a directory; give a file")
        if not stat.S_ISREG(mode):
            kind = (
                "a FIFO"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
            )
            raise error(f"{what} {path} is {kind}, not a regular file; give a file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise error(f"{what} {path} is larger than {limit // (1024 * 1024)} MiB; give the file it should be")
        return b"".join(chunks)
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_text(path: Path, what: str, error: type[HarnessError], *, missing: str, limit: int = MAX_BYTES) -> str:
    """The file's UTF-8 text (without a byte-order mark), or one line as read_bytes(), or '... is not UTF-8'."""
    data = read_bytes(path, what, error, missing=missing, limit=limit)
    data = data[len(BOM) :] if data.startswith(BOM) else data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def depth_problem(doc: Any, limit: int = MAX_DEPTH) -> str | None:
    """'nested more than N deep' when tables/arrays go deeper than limit, else None (no recursion)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return f"nested more than {limit} deep"
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list | tuple):
            stack.extend((v, depth + 1) for v in node)
    return None


def parse_toml(text: str, where: str, error: type[HarnessError], hint: str = "fix the file") -> dict[str, Any]:
    """tomllib.loads, or one line: '<where>: not valid TOML (...)' | '... nested more than N deep'."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{where}: not valid TOML ({exc}); {hint}") from None
    except RecursionError:
        raise error(f"{where}: not valid TOML here (nested more than {MAX_DEPTH} deep); {hint}") from None
    problem = depth_problem(table)
    if problem is not None:
        raise error(f"{where}: {problem}; {hint}")
    return table


def load_toml(
    path: Path, what: str, error: type[HarnessError], *, missing: str, hint: str = "fix the file"
) -> dict[str, Any]:
    """The TOML document in path, read and parsed within every bound, or one line."""
    return parse_toml(read_text(path, what, error, missing=missing), str(path), error, hint)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(text: str) -> Any:
    """json.loads, strict: NaN/Infinity and duplicate keys are errors (ValueError), and so is a document nested
    more than MAX_DEPTH deep."""
    try:
        doc = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} deep") from None
    problem = depth_problem(doc)
    if problem is not None:
        raise ValueError(problem)
    return doc


def load_json(
    path: Path, what: str, error: type[HarnessError], *, missing: str, hint: str, limit: int = REPORT_MAX_BYTES
) -> Any:
    """The JSON document in path (parse_json), or one-line error(...) as read_text, plus '... is not valid JSON'."""
    text = read_text(path, what, error, missing=missing, limit=limit)
    try:
        return parse_json(text)
    except ValueError as exc:
        raise error(f"{what} {path} is not valid JSON ({exc}); {hint}") from None
