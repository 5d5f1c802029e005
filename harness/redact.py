"""Secrets out of every report: redaction by structure, not by text.

- `redact_data(obj, secrets)`: a copy of a JSON-like document in which every *string value* equal to or
  containing a secret has it replaced by `***`. Keys, numbers, booleans and null are never touched, so a
  document keeps its shape (and is validated after redaction by whoever has a schema for it).
- `redact_text(text, secrets)`: free text the harness did not structure (pytest's log, Locust's log and
  CSV, container logs). A secret is also found in the forms the usual encodings give it (JSON, URL,
  HTML/XML, CSV, Python repr escaping).
- `redact_file(src, dst, secrets)`: a text artefact on its way into reports/: JSON by structure, XML by
  structure (element text, tails and attribute values; never tag or attribute names), anything else as text.
- `LiveCopy`: a redacted copy of a file that another process is still writing (pytest's log), so
  reports/ never holds an unredacted byte, not even while the suites run.

Where secrets come from: `Target.secrets()` (the API token, the admin token, database and Redis URL
passwords) and `user_secrets()` (HARNESS_TOKEN, HARNESS_ADMIN_TOKEN, ZAP_API_KEY). A user-given secret
shorter than MIN_SECRET_LENGTH is refused at start-up (`check_user_secrets`): a short string occurs
everywhere and cannot be redacted without destroying the reports.
"""

from __future__ import annotations

import codecs
import html
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from harness.atomic import write_atomic
from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.target import Target

MASK = "***"
MIN_SECRET_LENGTH = 8
USER_SECRET_ENV = ("HARNESS_TOKEN", "HARNESS_ADMIN_TOKEN", "ZAP_API_KEY")
_PROFILE_SECRET_ENV: list[str] = []  # the variables the service profile reads secrets from (declare_secret_env)
_REMEMBERED: set[str] = set()  # secrets this process obtained at run time (tokens a login returned)


# -- where secrets come from -------------------------------------------------------------------------------
def declare_secret_env(names: Iterable[str]) -> None:
    """The service profile's secret variables (its token and login credentials) are user secrets too."""
    for name in names:
        if name not in USER_SECRET_ENV and name not in _PROFILE_SECRET_ENV:
            _PROFILE_SECRET_ENV.append(name)


SECRETS_FILE_ENV = "HARNESS_RUN_SECRETS_FILE"  # where a child process records the secrets it obtained


def remember_secret(value: str) -> None:
    """A secret obtained at run time (a token from a login): every report of this process redacts it, and
    so does the parent that redacts this process's output (the file named by HARNESS_RUN_SECRETS_FILE, in
    the parent's private staging directory, written before the secret can appear in any output)."""
    if not value or value in _REMEMBERED:
        return
    _REMEMBERED.add(value)
    path = os.environ.get(SECRETS_FILE_ENV)
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(value) + "\n").encode())
        finally:
            os.close(fd)


def file_secrets(path: Path | str | None) -> list[str]:
    """The secrets a child process recorded (one JSON string per line); none when there is no file."""
    if not path:
        return []
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            continue  # a line still being written
        if isinstance(value, str) and value:
            out.append(value)
    return out


def user_secrets(env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """(variable, value) of every secret a user can hand the harness through the environment."""
    env = os.environ if env is None else env
    return [(name, env[name]) for name in (*USER_SECRET_ENV, *_PROFILE_SECRET_ENV) if env.get(name)]


def check_user_secrets(env: Mapping[str, str] | None = None) -> None:
    """Refuse, in one line, a user-given secret too short to be redacted safely."""
    for name, value in user_secrets(env):
        if value and not value.strip():
            raise ConfigError(f"{name} is only whitespace; set it to the real (random) secret or unset it")
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"{name} is shorter than {MIN_SECRET_LENGTH} characters; a secret that short cannot be redacted "
                "from the reports safely: use a longer (random) one"
            )


def run_secrets(target: Target | None = None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret of a run: the target's own and the user-given ones, longest first, no duplicates."""
    found = [v for _, v in user_secrets(env)] + (target.secrets() if target is not None else []) + list(_REMEMBERED)
    found += file_secrets((os.environ if env is None else env).get(SECRETS_FILE_ENV))
    return sorted({s for s in found if s}, key=len, reverse=True)


def url_password(url: str | None) -> str | None:
    """The password of a URL's userinfo (postgresql://user:pw@host/db), if any."""
    if not url:
        return None
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def has_userinfo(url: str) -> bool:
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return "@" in url
    return "@" in netloc


def strip_userinfo(url: str) -> str:
    """The URL without `user:password@` (for messages); an unparsable URL is not shown at all."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<the URL given>"
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# -- the redactor -------------------------------------------------------------------------------------------
def variants(secret: str) -> set[str]:
    """The forms a secret takes in the text formats reports are made of."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        html.escape(secret, quote=True),
        html.escape(secret, quote=False),
        html.escape(secret, quote=False).replace('"', "&quot;"),
        secret.replace('"', '""'),
    }
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), f) for f in forms if "%" in f}
    return {f for f in forms if f}


@lru_cache(maxsize=32)
def _pattern(secrets: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """One regex for every form of every secret (the longest form first where forms overlap), and the forms."""
    forms = tuple(sorted({f for s in secrets if s for f in variants(s)}, key=len, reverse=True))
    if not forms:
        return None, ()
    return re.compile("|".join(re.escape(f) for f in forms)), forms


def _key(secrets: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(sorted({s for s in secrets if s}))


def redact_text(text: str, secrets: Iterable[str | None]) -> str:
    """text with every form of every secret replaced by ***."""
    pattern = _pattern(_key(secrets))[0]
    return text if pattern is None else pattern.sub(MASK, text)


def redact_data(obj: Any, secrets: Iterable[str | None]) -> Any:
    """A copy of obj (dicts, lists, tuples, scalars) with secrets removed from string values only."""
    key = _key(secrets)
    if not key:
        return obj
    pattern = _pattern(key)[0]
    assert pattern is not None

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return pattern.sub(MASK, value)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}  # keys are never touched
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    return walk(obj)


def redact_json_text(text: str, secrets: Iterable[str | None]) -> str:
    """A JSON document (a tool's report) redacted by structure; text that is not JSON, as text."""
    try:
        doc = json.loads(text)
    except ValueError:
        return redact_text(text, secrets)
    return json.dumps(redact_data(doc, secrets), indent=2) + "\n"


def redact_xml_text(text: str, secrets: Iterable[str | None]) -> str:
    """An XML document (pytest's JUnit) redacted in element text, tails and attribute values: it stays
    valid XML whatever the secret is. Text that does not parse is redacted as text."""
    key = _key(secrets)
    if not key:
        return text
    try:
        root = ET.fromstring(text)  # noqa: S314 - a file our own child process wrote
    except ET.ParseError:
        return redact_text(text, key)
    for el in root.iter():
        if el.text:
            el.text = redact_text(el.text, key)
        if el.tail:
            el.tail = redact_text(el.tail, key)
        for name, value in el.attrib.items():
            el.attrib[name] = redact_text(value, key)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def redact_file(src: Path, dst: Path, secrets: Iterable[str | None]) -> None:
    """Copy src to dst (atomically) with the secrets removed: .json/.xml by structure, the rest as text."""
    text = src.read_bytes().decode("utf-8", errors="replace")
    if src.suffix == ".json":
        text = redact_json_text(text, secrets)
    elif src.suffix == ".xml":
        text = redact_xml_text(text, secrets)
    else:
        text = redact_text(text, secrets)
    write_atomic(dst, text)


def write_json(path: Path, doc: Any, secrets: Iterable[str | None], *, indent: int | None = 2) -> None:
    """Redact a document by structure, then serialise it, atomically."""
    write_atomic(path, json.dumps(redact_data(doc, secrets), indent=indent) + "\n")


class LiveCopy:
    """Keeps dst a redacted copy of src while another process appends to src (pytest's log).

    `pump()` copies what is new. A tail that could still grow into a secret (it is the beginning of
    one of a secret's forms) is held back until more text, or `finish()`, decides it; every match
    before it is final. So dst never holds a byte of a secret, shows the rest at once (pytest's
    progress dots), and ends equal to redact_text() of the whole of src."""

    def __init__(self, src: Path, dst: Path, secrets: Iterable[str | None], secrets_file: Path | None = None) -> None:
        self.src, self.dst = src, dst
        self.secrets, self.secrets_file, self.seen = list(secrets), secrets_file, 0
        self.pattern, self.forms = _pattern(_key(self.secrets))
        self.pos = 0  # bytes of src read so far
        self.pending = ""  # text read but not yet decided
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text("")

    def _learn(self) -> None:
        """Secrets the writer recorded since the last look (read BEFORE its output: it records a secret
        before the secret can appear in what it writes)."""
        if self.secrets_file is None:
            return
        try:
            size = self.secrets_file.stat().st_size
        except OSError:
            return
        if size != self.seen:
            self.seen = size
            self.secrets += file_secrets(self.secrets_file)
            self.pattern, self.forms = _pattern(_key(self.secrets))

    def _read(self, final: bool) -> None:
        self._learn()
        try:
            with self.src.open("rb") as fh:
                fh.seek(self.pos)
                chunk = fh.read()
        except OSError:
            chunk = b""
        self.pos += len(chunk)
        self.pending += self.decoder.decode(chunk, final=final)

    def _emit(self, final: bool) -> None:
        buf = self.pending
        if self.pattern is None or final:
            out, end = (buf if self.pattern is None else self.pattern.sub(MASK, buf)), len(buf)
        else:
            bound = self._undecided(buf)
            pieces, last = [], 0
            for m in self.pattern.finditer(buf):
                if m.start() >= bound:
                    break
                pieces += [buf[last : m.start()], MASK]
                last = m.end()
            end = max(bound, last)
            pieces.append(buf[last:end])
            out = "".join(pieces)
        self.pending = buf[end:]
        if out:
            with self.dst.open("a") as fh:
                fh.write(out)

    def _undecided(self, buf: str) -> int:
        """Where the tail that may still become (a longer form of) a secret begins; len(buf) if none."""
        longest = len(self.forms[0]) if self.forms else 0
        for p in range(max(len(buf) - longest + 1, 0), len(buf)):
            tail = buf[p:]
            if any(f.startswith(tail) for f in self.forms):
                return p
        return len(buf)

    def pump(self) -> None:
        """Copy what src gained since the last call (what can already be decided)."""
        self._read(final=False)
        self._emit(final=False)

    def finish(self) -> None:
        """Copy the rest: the writer is done."""
        self._read(final=True)
        self._emit(final=True)
