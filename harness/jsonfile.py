"""Read a JSON file a user handed us, or say in one line what is wrong with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def load_json(path: Path, what: str, error: type[HarnessError], *, missing: str, hint: str) -> Any:
    """json.loads(path) or error('<what> <path> <missing>' | '... cannot be read' | '... is not valid JSON; hint')."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{what} {path} {missing}") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror})") from None
    except ValueError as exc:
        raise error(f"{what} {path} is not valid JSON ({exc}); {hint}") from None
