"""Evidence: one record per check a suite ran, and the file that carries them to the verdict."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import ReportError

EVIDENCE_SCHEMA = "harness.evidence/v1"
# not_applicable: the check cannot apply to this target (e.g. TLS on a loopback http stack); never a pass
# not_run: the check could apply, and this run did not make it (safety scope, no baseline, user exclusion)
# flaky: the check failed, then passed when re-run: two answers, never a pass
OUTCOMES = ("passed", "failed", "skipped", "error", "not_applicable", "not_run", "flaky")
COMPLETED = ("passed", "failed")  # the only outcomes whose measurements a gate may use
UNDECIDED = "the check never reported a result (its process may have crashed)"


@dataclass(slots=True)
class Evidence:
    """The result of one check: what ran, how it ended, what it measured and covered, how to reproduce it.

    A record starts as `error` (UNDECIDED) and only its call phase can make it `passed`."""

    suite: str
    id: str
    outcome: str = "error"
    nodeid: str = ""
    duration_s: float = 0.0
    message: str = UNDECIDED
    measurements: dict[str, float] = field(default_factory=dict)
    repro: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)  # what the check looked at: {"files": 12, ...}
    reruns: int = 0  # how often the check was re-run after a failed attempt (harness.plugins.evidence)
    caveat: str = ""  # set: what else could have made the numbers worse (a busy machine); a gate may pass, not fail

    @classmethod
    def from_dict(cls, raw: dict[str, object]) -> Evidence:
        ev = cls(**raw)  # type: ignore[arg-type]
        if ev.outcome not in OUTCOMES:
            raise ValueError(f"outcome {ev.outcome!r} is not one of {OUTCOMES}")
        return ev

    @property
    def completed(self) -> bool:
        """The check ran to its verdict (passed or failed): its measurements mean something."""
        return self.outcome in COMPLETED

    def uncovered(self) -> list[str]:
        """Coverage counts that are zero (or not a number): what the check said it looked at and did not."""
        return [
            k
            for k, v in self.coverage.items()
            if not isinstance(v, int | float) or isinstance(v, bool) or math.isnan(v) or v <= 0
        ]


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
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise ReportError(f"evidence file {path} is malformed ({exc}); re-run the gate") from None
