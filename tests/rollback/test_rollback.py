"""The rollback rehearsal's areas, one check each (the rehearsal runs once, harness/rollback/rehearsal.py)."""

from __future__ import annotations

import pytest

from harness.rollback import PREVIOUS_REVISION

# the rehearsal downgrades the database and empties caches: a second attempt would start from another state,
# so a failure here is never re-run (pytest-rerunfailures' marker; the phase's `reruns` applies elsewhere)
pytestmark = pytest.mark.flaky(reruns=0)


def _held(findings: list[str], what: str) -> None:
    more = f" (+{len(findings) - 3} more)" if len(findings) > 3 else ""
    assert not findings, f"{what}: " + "; ".join(findings[:3]) + more


@pytest.mark.check("rollback.data")
def test_data_survives(rehearsal, coverage):
    coverage(turns=rehearsal.turns)
    _held(rehearsal.findings["data"], f"data across the downgrade to {PREVIOUS_REVISION} and back")


@pytest.mark.check("rollback.cache")
def test_cache_invalidated(rehearsal, coverage):
    coverage(keys_removed=rehearsal.keys_removed)
    _held(rehearsal.findings["cache"], "cache invalidation")


@pytest.mark.check("rollback.flags")
def test_flags_off(rehearsal, coverage):
    coverage(users=rehearsal.users_sampled)
    _held(rehearsal.findings["flags"], "feature flags off")


@pytest.mark.check("rollback.duration")
def test_duration(rehearsal, measure):
    assert rehearsal.duration_s is not None, "the rehearsal did not reach its end"
    measure(rollback_duration_s=rehearsal.duration_s, **{f"rollback_{k}_s": v for k, v in rehearsal.steps_s.items()})
