"""The rollback rehearsal: the deployment guide's rollback procedures run for real on a stack the harness
started (database downgrade 0002 -> 0001 and back, cache invalidation, feature flags off), timed.

    cache.py      SCAN + UNLINK invalidation by pattern (the guide's snippet DELetes a literal "feature_flags:*")
    database.py   the build's own migrate command, the previous release's queries, a scratch database
    rehearsal.py  the steps in order, each one's findings, the time to roll back
"""

from __future__ import annotations

PREVIOUS_REVISION = "0001"  # the guide's "Database Rollback" returns the schema to the v1 release
HEAD_REVISION = "0002"
