#!/usr/bin/env python3
"""Write deploy/openapi.baseline.json from the reference service's current OpenAPI document.

Run it when an API change is released on purpose; the contract suite's breaking-change gate compares
every candidate with this file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    os.environ.setdefault("DATABASE_URL", "postgresql://unused@127.0.0.1/unused")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
    os.environ.pop("ORCHESTRA_FAULTS", None)
    from app.main import create_app

    out = ROOT / "deploy" / "openapi.baseline.json"
    out.write_text(json.dumps(create_app().openapi(), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
