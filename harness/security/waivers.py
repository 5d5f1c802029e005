"""Waivers: accepted risks. A waived finding is reported but does not block; an expired waiver blocks again
and says so. The file is TOML, committed with the code it covers:

    [[waiver]]
    rule = "DS-0002"                       # a rule id (ZAP plugin id, trivy check id, ...) or
    # fingerprint = "3f1c9a0b2d4e5f60"     # one finding's fingerprint (reports/security/findings.json)
    where = "scripts/offline/*"            # optional glob on the finding's file or URL path
    owner = "platform team"
    reason = "why the risk is accepted"
    expires = 2027-05-31                   # a date; from the day after it, the finding blocks again
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.security.errors import WaiverFileError
from harness.security.findings import Finding

_KEYS = {"rule", "fingerprint", "where", "source", "owner", "reason", "expires"}


@dataclass(frozen=True, slots=True)
class Waiver:
    owner: str
    reason: str
    expires: date
    rule: str | None = None
    fingerprint: str | None = None
    where: str | None = None
    source: str | None = None

    def expired(self, today: date) -> bool:
        return today > self.expires

    def covers(self, f: Finding) -> bool:
        if self.fingerprint and self.fingerprint != f.fingerprint:
            return False
        if self.rule and self.rule != f.rule_id:
            return False
        if self.source and self.source != f.source:
            return False
        if self.where:
            places = [p for p in (f.file, f.url and urlsplit(f.url).path, f.url) if p]
            if not any(fnmatch.fnmatchcase(p, self.where) for p in places):
                return False
        return True


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise WaiverFileError(f"{where}: expires = {value!r} is not a date (YYYY-MM-DD)") from None


def parse_waivers(text: str, where: str) -> list[Waiver]:
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WaiverFileError(f"waiver file {where} is not valid TOML ({exc}); fix it") from None
    extra = set(table) - {"waiver"}
    if extra:
        raise WaiverFileError(f"waiver file {where}: unknown top-level key {sorted(extra)[0]!r}; use [[waiver]] tables")
    raw_list = table.get("waiver", [])
    if not isinstance(raw_list, list):
        raise WaiverFileError(f"waiver file {where}: 'waiver' must be an array of tables ([[waiver]])")
    out = []
    for i, raw in enumerate(raw_list, start=1):
        at = f"waiver file {where}: waiver #{i}"
        unknown = set(raw) - _KEYS
        if unknown:
            raise WaiverFileError(f"{at}: unknown key {sorted(unknown)[0]!r} (keys: {', '.join(sorted(_KEYS))})")
        if not raw.get("rule") and not raw.get("fingerprint"):
            raise WaiverFileError(f"{at} names neither a rule nor a fingerprint")
        for key in ("owner", "reason", "expires"):
            if not str(raw.get(key, "")).strip():
                raise WaiverFileError(f"{at} has no {key}; every waiver needs owner, reason and expires")
        out.append(
            Waiver(
                owner=str(raw["owner"]).strip(),
                reason=str(raw["reason"]).strip(),
                expires=_date(raw["expires"], at),
                rule=str(raw["rule"]).strip() if raw.get("rule") else None,
                fingerprint=str(raw["fingerprint"]).strip() if raw.get("fingerprint") else None,
                where=str(raw["where"]).strip() if raw.get("where") else None,
                source=str(raw["source"]).strip() if raw.get("source") else None,
            )
        )
    return out


def load_waivers(path: Path | None) -> list[Waiver]:
    """The waivers in path; none when path is None or the file does not exist."""
    if path is None or not path.is_file():
        return []
    try:
        return parse_waivers(path.read_text(), str(path))
    except OSError as exc:
        raise WaiverFileError(f"waiver file {path} cannot be read ({exc.strerror})") from None


def apply_waivers(findings: list[Finding], waivers: list[Waiver], today: date | None = None) -> None:
    """Attach the first waiver covering each finding (a valid one before an expired one)."""
    today = today or date.today()
    for f in findings:
        covering = [w for w in waivers if w.covers(f)]
        if not covering:
            continue
        w = sorted(covering, key=lambda w: w.expired(today))[0]
        f.waiver = {"owner": w.owner, "reason": w.reason, "expires": w.expires.isoformat(), "expired": w.expired(today)}
