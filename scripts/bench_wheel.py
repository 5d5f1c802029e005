"""The wheel as a team installs it, with a full dependency install (tests/e2e/test_wheel.py shares the test
environment's dependencies instead, to stay short): build the wheel, create a fresh virtualenv, `pip install` the
wheel with all its dependencies (from the index, or pip's cache), then `harness gate --phase pr` from an empty
directory. Prints each step's wall time and the verdict; exit 0 only when the verdict is go with no gate missing.

    python scripts/bench_wheel.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(".git", ".venv", ".tox", "build", "dist", "reports", "__pycache__", "*.egg-info")


def step(name: str, argv: list[str], **kw) -> float:
    start = time.monotonic()
    subprocess.run(argv, check=True, **kw)
    took = time.monotonic() - start
    print(f"{name:<40} {took:7.1f} s", flush=True)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-wheel-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        shutil.copytree(ROOT, work / "src", ignore=SKIP, dirs_exist_ok=True)
        step(
            "pip wheel --no-deps",
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(work / "dist"), str(work / "src")],
        )
        (wheel,) = (work / "dist").glob("ai_orchestra_harness-*.whl")
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1e6:.2f} MB")
        step("python -m venv", [sys.executable, "-m", "venv", str(work / "venv")])
        step("pip install <wheel> (all dependencies)", [str(work / "venv/bin/pip"), "install", "-q", str(wheel)])
        empty = work / "empty"
        empty.mkdir(exist_ok=True)
        start = time.monotonic()
        done = subprocess.run([str(work / "venv/bin/harness"), "gate", "--phase", "pr"], cwd=empty, check=False)
        print(f"{'harness gate --phase pr (empty dir)':<40} {time.monotonic() - start:7.1f} s  exit {done.returncode}")
        doc = json.loads((empty / "reports/verdict.json").read_text())
        missing = [g["id"] for g in doc["gates"] if g["status"] == "missing"]
        print(f"verdict {doc['verdict']}, {len(doc['gates'])} gates, missing: {missing or 'none'}")
        return 0 if done.returncode == 0 and doc["verdict"] == "go" and not missing else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
