"""Evidence: one record per check a suite ran, and the file that carries them to the verdict."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import ReportError

EVIDENCE_SCHEMA = "harness.evidence/v1"
OUTCOMES = ("passed", "failed", "skipped", "error")


@dataclass(slots=True)
class Evidence:
    """The result of one check: what ran, how it ended, what it measured, how to reproduce it."""

    suite: str
    id: str
    outcome: str
    nodeid: str = ""
    duration_s: float = 0.0
    message: str = ""
    measurements: dict[str, float] = field(default_factory=dict)
    repro: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Evidence:
        ev = cls(**raw)  # type: ignore[arg-type]
        if ev.outcome not in OUTCOMES:
            raise ValueError(f"outcome {ev.outcome!r} is not one of {OUTCOMES}")
        return ev


@dataclass(slots=True)
class EvidenceFile:
    """What one pytest session produced: the records and how the session ended."""

    records: list[Evidence]
    exitstatus: int
    suites: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "schema": EVIDENCE_SCHEMA,
                "exitstatus": self.exitstatus,
                "suites": self.suites,
                "records": [asdict(r) for r in self.records],
            },
            indent=2,
        )


def write_atomic(path: Path, text: str) -> None:
    """Write text to path so readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_evidence(path: Path) -> EvidenceFile:
    """Load an evidence file, or say in one line why it cannot be used."""
    try:
        raw = json.loads(path.read_text())
        if raw.get("schema") != EVIDENCE_SCHEMA:
            raise ValueError(f"schema is {raw.get('schema')!r}, expected {EVIDENCE_SCHEMA!r}")
        return EvidenceFile(
            records=[Evidence.from_dict(r) for r in raw["records"]],
            exitstatus=int(raw["exitstatus"]),
            suites=list(raw.get("suites", [])),
        )
    except FileNotFoundError:
        raise ReportError(f"evidence file {path} was not written; the suites did not finish") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReportError(f"evidence file {path} is malformed ({exc}); re-run the gate") from None
