"""Load across real network boundaries, on Locust's own master/workers: network namespaces joined by veth pairs.

Five namespaces this test creates and removes (in a finally): a bridge, the service (a `harness up` stack,
reachable on 198.18.0.1 through a TCP forwarder, since the local stack listens on loopback), the master
(198.18.0.2) and two workers (198.18.0.3, .4). Addresses come from the benchmarking range 198.18.0.0/15,
exist only on these veths and are never routed out. Proves: the distributed run's verdict equals the
single-host run's on the same profile; a worker killed mid-run makes the load gates inconclusive naming it
(Locust's missing heartbeat), never a pass; the master gone stops the workers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.verdict import validate_verdict

from .conftest import ROOT, harness_env, stack_processes

POLICY = """
[phases.load]
gates = [{ id = "load.rps", threshold = 50, about = "e2e: 50 req/s (gate logic, not capacity)" }]
"""
PROFILE = {"HARNESS_LOAD_DURATION_S": "4", "HARNESS_LOAD_USERS": "20"}
NET = "198.18.0"
SERVICE_PORT = 8080  # inside the service's own namespace: nothing else listens there
MASTER_PORT = 5557  # Locust's default, inside the master's own namespace
FORWARDER = """
import asyncio, sys
host, port, to = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(r, w):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", to)
    except OSError:
        w.close()
        return
    await asyncio.gather(pipe(r, uw), pipe(ur, w))
async def main():
    server = await asyncio.start_server(handle, host, port)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


@contextmanager
def namespaces(prefix: str) -> Iterator[dict[str, str]]:
    """{role: namespace}: svc .1, mst .2, w1 .3, w2 .4 on one bridge (in a namespace of its own); all removed."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        pytest.fail("this test needs iproute2 and root (network namespaces)", pytrace=False)
    roles = {"svc": 1, "mst": 2, "w1": 3, "w2": 4}
    names = {role: f"{prefix}-{role}" for role in roles}
    lan = f"{prefix}-lan"
    made: list[str] = []
    try:
        for ns in (lan, *names.values()):
            ip("netns", "add", ns)
            made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", lan, "link", "add", "br0", "type", "bridge")
        ip("-n", lan, "link", "set", "br0", "up")
        for role, host in roles.items():
            inner, outer = f"{prefix}{role}i", f"{prefix}{role}o"
            ip("link", "add", inner, "type", "veth", "peer", "name", outer)
            ip("link", "set", inner, "netns", names[role])
            ip("link", "set", outer, "netns", lan)
            ip("-n", lan, "link", "set", outer, "master", "br0", "up")
            ip("-n", names[role], "addr", "add", f"{NET}.{host}/24", "dev", inner)
            ip("-n", names[role], "link", "set", inner, "up")
        yield names
    finally:
        for ns in made:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)  # only processes this test started live in its namespaces
                except (ProcessLookupError, ValueError):
                    pass
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def in_ns(ns: str, *argv: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen:
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - the child holds it
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, *argv], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True, text=True,
    )  # fmt: skip


@contextmanager
def service(ns: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """`harness up` in the service namespace, forwarded from 198.18.0.1: (base URL, token)."""
    log = tmp_path / "up.log"
    up = in_ns(ns, sys.executable, "-m", "harness.cli", "up", env=harness_env(), log=log)
    fwd = None
    try:
        deadline = time.monotonic() + 120
        while "export " not in log.read_text():
            if up.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"harness up did not come up: {log.read_text()[-1000:]}", pytrace=False)
            time.sleep(0.2)
        text = log.read_text()
        port = int(re.search(r"base_url:\s+http://127\.0\.0\.1:(\d+)", text).group(1))
        token = re.search(r"HARNESS_TOKEN=(\S+)", text).group(1)
        script = tmp_path / "forward.py"
        script.write_text(FORWARDER)
        fwd = in_ns(ns, sys.executable, str(script), f"{NET}.1", str(SERVICE_PORT), str(port), env=harness_env())
        yield f"http://{NET}.1:{SERVICE_PORT}", token
    finally:
        if fwd is not None:
            fwd.kill()
            fwd.wait(timeout=10)
        up.send_signal(signal.SIGTERM)
        up.wait(timeout=60)


def workers(names: dict[str, str], token: str, tmp_path: Path, run: str) -> dict[str, subprocess.Popen]:
    """The documented worker command, one per worker namespace: harness load-worker --master HOST:PORT."""
    out = {}
    for role in ("w1", "w2"):
        env = harness_env(
            HARNESS_LOAD_TOKEN=token, HARNESS_LOAD_WORKER_NAME=f"ns-{role}", HARNESS_LOAD_MASTER_TIMEOUT_S="5"
        )
        argv = [sys.executable, "-m", "harness.cli", "load-worker", "--master", f"{NET}.2:{MASTER_PORT}"]
        out[role] = in_ns(names[role], *argv, env=env, log=tmp_path / f"{run}-{role}.log")
    return out


def master(names: dict[str, str], url: str, token: str, reports: Path, policy: Path, *extra: str, **env: str):
    argv = [sys.executable, "-m", "harness.cli", "load", "--profile", "smoke", "--target", url, "--allow-remote-load"]
    # --allow-unsafe: `harness up` is a test instance, so the chat users run (without it the load gates are not run)
    argv += ["--reports-dir", str(reports), "--policy-file", str(policy), "--quiet", "--allow-unsafe", *extra]
    environ = harness_env(**{**PROFILE, **env}, HARNESS_STACK="auto", HARNESS_TOKEN=token)
    return in_ns(names["mst"], *argv, env=environ, log=reports.parent / f"{reports.name}.log")


def finished(proc: subprocess.Popen, timeout: float = 150) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("the run did not finish in time", pytrace=False)


def statuses(reports: Path) -> tuple[dict, dict[str, str]]:
    doc = json.loads((reports / "verdict.json").read_text())
    validate_verdict(doc)
    return doc, {g["id"]: g["status"] for g in doc["gates"]}


def running(reports: Path, users: int, timeout: float = 60) -> None:
    """Until the master's progress says every user runs."""
    path = reports / "load" / "progress.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = path.read_text().splitlines() if path.is_file() else []
        if any(json.loads(x).get("users") == users for x in lines if x.strip()):
            return
        time.sleep(0.2)
    pytest.fail("the distributed run never had every user running", pytrace=False)


def exited(procs: dict[str, subprocess.Popen], timeout: float) -> dict[str, int | None]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
        time.sleep(0.2)
    return {role: p.poll() for role, p in procs.items()}


def test_distributed_load_across_namespaces(tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY)
    prefix = f"hl{os.getpid() % 100000}"
    with namespaces(prefix) as names, service(names["svc"], tmp_path) as (url, token):
        # 1. single host: the master and two worker processes in the master's namespace
        single = tmp_path / "single"
        code = finished(master(names, url, token, single, policy, "--workers", "2"))
        doc_single, single_statuses = statuses(single)

        # 2. the same profile, the master on 198.18.0.2 and a worker in each of two other namespaces
        spread = tmp_path / "spread"
        remote = workers(names, token, tmp_path, "spread")
        bind = ("--master-bind", f"{NET}.2:{MASTER_PORT}", "--expect-workers", "2")
        code_spread = finished(master(names, url, token, spread, policy, *bind))
        doc_spread, spread_statuses = statuses(spread)
        assert (code_spread, doc_spread["verdict"], spread_statuses) == (code, doc_single["verdict"], single_statuses)
        assert doc_spread["verdict"] == "go", doc_spread["reasons"]
        gens = json.loads((spread / "load" / "generators.json").read_text())["generators"]
        hosts = {g["label"] for g in gens if g["role"] == "worker"}
        assert hosts == {"ns-w1", "ns-w2"}, gens  # the load came from the two other namespaces
        assert exited(remote, 20) == {"w1": 0, "w2": 0}  # the run's end stops its workers

        # 3. a worker killed mid-run: every load gate inconclusive, naming it; never a pass
        killed = tmp_path / "killed"
        remote = workers(names, token, tmp_path, "killed")
        run = master(names, url, token, killed, policy, *bind, HARNESS_LOAD_DURATION_S="8")
        running(killed, 20)
        victim = remote["w2"].pid  # `ip netns exec` and `harness load-worker` exec: this is Locust's pid
        os.kill(victim, signal.SIGKILL)
        assert finished(run) == 2
        doc, got = statuses(killed)
        assert doc["verdict"] == "inconclusive"
        load_gates = {k: v for k, v in got.items() if k.startswith("load.")}
        assert set(load_gates.values()) == {"missing"}, load_gates
        reason = next(g["reason"] for g in doc["gates"] if g["id"] == "load.rps")
        assert "ns-w2" in reason and f"pid {victim}" in reason and "stopped sending heartbeats" in reason, reason
        exited(remote, 20)

        # 4. the master gone (SIGKILL: no goodbye): the workers stop on their own
        gone = tmp_path / "gone"
        remote = workers(names, token, tmp_path, "gone")
        run = master(names, url, token, gone, policy, *bind, HARNESS_LOAD_DURATION_S="30")
        running(gone, 20)
        locust_master = [p for p, cmd in stack_processes().items() if "--master-bind-host" in cmd]
        assert len(locust_master) == 1, locust_master
        os.kill(locust_master[0], signal.SIGKILL)
        assert finished(run) == 2  # the harness says inconclusive: Locust died
        states = exited(remote, 25)
        assert all(code is not None for code in states.values()), f"workers outlived their master: {states}"
