"""The harness image's size and start time: `docker run` (read-only root, user 10001, tmpfs for /data and /tmp) to
the first 200 from /healthz, N times; prints each time, the median and the image's size. Build the image first
(scripts/build_harness_image.sh); the engine is $DOCKER_HOST.

    python scripts/bench_harness_image.py [--image TAG] [--runs N]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def docker(*args: str) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"bench_harness_image: docker {args[0]} {args[1]} failed: {last} (DOCKER_HOST, the image?)")
    return done.stdout.strip()


def start_time(image: str) -> float:
    start = time.monotonic()
    cid = docker(
        "run", "-d", "--read-only", "--user", "10001:10001", "--tmpfs", "/data:uid=10001,gid=10001", "--tmpfs", "/tmp",
        "-e", f"HARNESS_SERVE_TOKEN={secrets.token_hex(16)}", "-p", "127.0.0.1::8080", image,
    )  # fmt: skip
    try:
        port = docker("port", cid, "8080/tcp").splitlines()[0].rsplit(":", 1)[1]
        deadline = start + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.05)
        raise SystemExit(f"bench_harness_image: /healthz did not answer within 120 s; logs:\n{docker('logs', cid)}")
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="default: the tag scripts/build_harness_image.sh builds")
    parser.add_argument("--runs", type=int, default=5, choices=range(1, 51), metavar="N (1-50)")
    args = parser.parse_args()
    image = (
        args.image
        or subprocess.run(
            ["bash", str(ROOT / "scripts/build_harness_image.sh"), "--print-tag"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    size = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    base = docker(
        "image", "inspect", "--format", '{{index .Config.Labels "org.opencontainers.image.base.name"}}', image
    )
    print(f"image {image}: {size / 1e6:.0f} MB{f' (base {base})' if base else ''}")
    times = []
    for i in range(args.runs):
        times.append(start_time(image))
        print(f"run {i + 1}: docker run -> /healthz 200 in {times[-1]:.2f} s", flush=True)
    print(f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
