"""The deployment guide's pre-deployment checklist as checks with evidence: every item, each automated
(the evidence a machine can read) or attested (who, when, until when: harness/checklist/attestations.py).

    items.py         the guide's items in its order, and how each is proven
    attestations.py  the attestations file: one line and exit 64 when malformed; an expired one fails its item
    evidence.py      the automated items' evidence (JUnit, Cobertura, a verdict, Alembic, Redis, manifests,
                     pg_dump/restore, the served OpenAPI, the runbook, the change log)
    options.py       [tool.harness.checklist] (HARNESS_CHECKLIST_<KEY>): where the inputs are
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    section: str
    text: str  # the guide's words
    how: str  # "automated" | "attested"


ITEMS: tuple[Item, ...] = (
    Item("tests_passing", "Code Quality", "All tests passing (unit, integration, E2E)", "automated"),
    Item("coverage", "Code Quality", "Code coverage > 80%", "automated"),
    Item("security", "Code Quality", "No critical security vulnerabilities", "automated"),
    Item("performance", "Code Quality", "Performance benchmarks met", "automated"),
    Item("code_review", "Code Quality", "Code review completed", "attested"),
    Item("migrations", "Infrastructure", "Database migrations prepared", "automated"),
    Item("cache", "Infrastructure", "Cache layer configured", "automated"),
    Item("load_balancer", "Infrastructure", "Load balancer settings verified", "automated"),
    Item("ssl", "Infrastructure", "SSL certificates valid", "automated"),
    Item("backups", "Infrastructure", "Backup systems operational", "automated"),
    Item("api_docs", "Documentation", "API documentation updated", "automated"),
    Item("runbook", "Documentation", "Runbook prepared", "automated"),
    Item("changelog", "Documentation", "Change log updated", "automated"),
    Item("team_notified", "Documentation", "Team notified of deployment", "attested"),
)
ATTESTED = tuple(i.id for i in ITEMS if i.how == "attested")
