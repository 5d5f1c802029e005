"""What the harness's pytest plugins share through config.stash, so neither imports the other."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.target import Target

# the session's Target once it is known (found, handed down or started), else None
CURRENT_TARGET = pytest.StashKey[Callable[[], Target | None]]()
