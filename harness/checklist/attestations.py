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

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from harness.checklist import ATTESTED
from harness.errors import ConfigError, did_you_mean

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
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{at}: {key} = {value!r} is not a date (YYYY-MM-DD)") from None


def parse_attestations(text: str, where: str) -> dict[str, Attestation]:
    """item -> its attestation (the latest `at` wins when an item is attested twice)."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"attestations file {where} is not valid TOML ({exc}); fix it") from None
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
        if item not in out or out[item].at <= made.at:
            out[item] = made
    return out


def load_attestations(path: Path) -> dict[str, Attestation]:
    """The attestations in path; ConfigError (one line) when it is missing, unreadable or malformed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"attestations file {path} does not exist; set checklist attestations to one") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"attestations file {path} cannot be read ({exc}); fix it") from None
    return parse_attestations(text, str(path))
