"""One record per security finding, whatever found it, with a fingerprint stable across runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

SEVERITIES = ("info", "low", "medium", "high", "critical")
SOURCES = ("native", "zap", "zap-report", "trivy", "auth", "tls")
LEVELS = ("INFO", "WARN", "FAIL")  # FAIL blocks its gate, WARN is reported, INFO is informational
FINDINGS_SCHEMA = "harness.security-findings/v1"

# sources that report the same rules (ZAP's plugin ids) share fingerprints, so a finding seen by the
# native rules in one run and by a ZAP daemon in the next is the same finding
_FAMILY = {"native": "zap", "zap": "zap", "zap-report": "zap"}


def url_key(url: str) -> str:
    """The part of a URL that identifies a resource across runs: path and query, not host or port."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(slots=True)
class Finding:
    """What was found, how bad, where, and whether it blocks.

    `where` is a URL with its method (HTTP findings) or a file with its line (trivy findings).
    `key` is the location part of the fingerprint: stable across runs (no host, port or line)."""

    source: str
    rule_id: str
    title: str
    severity: str
    level: str
    method: str | None = None
    url: str | None = None
    file: str | None = None
    line: int | None = None
    evidence: str = ""
    key: str = ""
    fingerprint: str = ""
    new: bool = True
    waiver: dict[str, Any] | None = None  # {"owner", "reason", "expires", "expired"}
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity {self.severity!r} is not one of {SEVERITIES}")
        if self.level not in LEVELS:
            raise ValueError(f"level {self.level!r} is not one of {LEVELS}")
        if not self.fingerprint:
            family = _FAMILY.get(self.source, self.source)
            key = self.key or self.where
            self.fingerprint = hashlib.sha256(f"{family}|{self.rule_id}|{key}".encode()).hexdigest()[:16]

    @property
    def where(self) -> str:
        if self.url:
            return f"{self.method or 'GET'} {self.url}"
        if self.file:
            return f"{self.file}:{self.line}" if self.line else self.file
        return ""

    @property
    def waived(self) -> bool:
        """A waiver that has not expired covers this finding."""
        return bool(self.waiver) and not self.waiver.get("expired")

    @property
    def blocking(self) -> bool:
        return self.level == "FAIL" and not self.waived

    def describe(self) -> str:
        """One line: '10037 X-Powered-By leak at GET /health [new]'."""
        where = self.where
        if self.url:
            where = f"{self.method or 'GET'} {url_key(self.url)}"
        tags = ["new" if self.new else "known"]
        if self.waiver and self.waiver.get("expired"):
            tags.append(f"waiver expired {self.waiver['expires']}, owner {self.waiver['owner']}")
        elif self.waiver:
            tags.append(f"waived until {self.waiver['expires']}")
        return f"{self.rule_id} {self.title} at {where} [{', '.join(tags)}]"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["where"] = self.where
        out["blocking"] = self.blocking
        return out


def summarize(findings: list[Finding], limit: int = 4) -> str:
    """'2 blocking rule(s) at 18 place(s), 18 new since the last recorded run: A at X (+8 more) [new]; B ...'.

    Grouped by rule, new ones first, so the line names what to fix and whether it is a regression."""
    blocking = [f for f in findings if f.blocking]
    if not blocking:
        return ""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in blocking:
        groups.setdefault((f.rule_id, f.title), []).append(f)

    def rank(item: tuple[tuple[str, str], list[Finding]]) -> tuple[bool, int, str]:
        fs = item[1]
        return (not any(f.new for f in fs), -max(SEVERITIES.index(f.severity) for f in fs), item[0][0])

    parts = []
    for _, fs in sorted(groups.items(), key=rank)[:limit]:
        first = sorted(fs, key=lambda f: not f.new)[0]
        text = first.describe()
        if len(fs) > 1:
            head, _, tags = text.rpartition(" [")
            text = f"{head} (+{len(fs) - 1} more) [{tags}"
        parts.append(text)
    more = f" (+{len(groups) - limit} more rules)" if len(groups) > limit else ""
    new = sum(f.new for f in blocking)
    return (
        f"{len(groups)} blocking rule(s) at {len(blocking)} place(s), {new} new since the last recorded run: "
        + "; ".join(parts)
        + more
    )


def findings_document(findings: list[Finding], *, check: str, target: str, extra: dict[str, Any]) -> str:
    """The JSON of one check's findings (reports/security/findings/<check>.json)."""
    return json.dumps(
        {
            "schema": FINDINGS_SCHEMA,
            "check": check,
            "target": target,
            **extra,
            "counts": {
                "total": len(findings),
                "blocking": sum(f.blocking for f in findings),
                "new": sum(f.new for f in findings),
                "waived": sum(f.waived for f in findings),
                "by_level": {lv: sum(f.level == lv for f in findings) for lv in LEVELS},
            },
            "findings": [f.to_dict() for f in findings],
        },
        indent=2,
    )
