"""The checklist's attestations file: what no machine can know (a code review, the team told), each with
who attests it, when, and until when it holds.

    [[attestation]]
    item = "code_review"        # an attested item of harness/checklist ITEMS
    by = "dana@example.com"
    at = 2026-11-20             # when (a date)
    expires = 2026-12-20        # after this date the attestation no longer counts: its item fails
    note = "PR #412, two approvals"

A malformed file is one ConfigError line (exit 64) before anything starts; a missing or expired
attestation fails its item (the checklist is then no-go), never the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.checklist import ATTESTED
from harness.errors import ConfigError, did_you_mean
from harness.jsonfile import parse_toml, read_text

_KEYS = ("item", "by", "at", "expires", "note")


@dataclass(frozen=True, slots=True)
class Attestation:
    item: str
    by: str
    at: date
    expires: date
    note: str = ""

    def state(self, today: date) -> tuple[bool, str]:
        """(holds, evidence line)."""
        if today > self.expires:
            return False, f"attested by {self.by} on {self.at}, expired {self.expires}"
        return True, f"attested by {self.by} on {self.at}, valid until {self.expires}" + (
            f" ({self.note})" if self.note else ""
        )


def _date(raw: dict[str, Any], key: str, at: str) -> date:
    value = raw.get(key)
    if isinstance(value, datetime):  # a TOML datetime (2026-01-01T10:00:00Z): its day; compared as a date
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{at}: {key} = {value!r} is not a date (YYYY-MM-DD)") from None


def parse_attestations(text: str, where: str) -> dict[str, Attestation]:
    """item -> its attestation (the latest `at` wins when an item is attested twice)."""
    table = parse_toml(text, f"attestations file {where}", ConfigError, hint="fix it")
    extra = set(table) - {"attestation"}
    if extra:
        raise ConfigError(f"attestations file {where}: unknown key {sorted(extra)[0]!r}; use [[attestation]] tables")
    items = table.get("attestation", [])
    if not isinstance(items, list):
        raise ConfigError(f"attestations file {where}: 'attestation' must be an array of tables ([[attestation]])")
    out: dict[str, Attestation] = {}
    for i, raw in enumerate(items, start=1):
        at = f"attestations file {where}: attestation #{i}"
        unknown = sorted(set(raw) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{at}: unknown key {unknown[0]!r}{did_you_mean(unknown[0], _KEYS)}")
        for key in ("item", "by", "at", "expires"):
            if not str(raw.get(key, "")).strip():
                raise ConfigError(f"{at} has no {key}; every attestation needs item, by, at and expires")
        item = str(raw["item"]).strip()
        if item not in ATTESTED:
            raise ConfigError(f"{at}: item {item!r} is not an attested item{did_you_mean(item, ATTESTED)}")
        made = Attestation(item, str(raw["by"]).strip(), _date(raw, "at", at), _date(raw, "expires", at))
        made = Attestation(made.item, made.by, made.at, made.expires, str(raw.get("note", "")).strip())
        if made.expires < made.at:
            raise ConfigError(f"{at}: expires {made.expires} is before at {made.at}")
        latest = datetime.now(UTC).date() + timedelta(days=1)  # a day of slack for the time zones east of UTC
        if made.at > latest:
            raise ConfigError(f"{at}: at {made.at} is in the future; attest what was done, on the day it was done")
        if item not in out or out[item].at <= made.at:
            out[item] = made
    return out


def load_attestations(path: Path) -> dict[str, Attestation]:
    """The attestations in path; ConfigError (one line) when it is missing, unreadable or malformed."""
    missing = "does not exist; set checklist attestations to one"
    return parse_attestations(read_text(path, "attestations file", ConfigError, missing=missing), str(path))
