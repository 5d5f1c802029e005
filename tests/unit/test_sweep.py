"""harness/stack/sweep.py: what a killed run left (temp dirs, the processes holding files in them, labelled
containers and networks) is removed at the next start, and nothing whose owner lives is touched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from harness.stack.sweep import (
    ALIVE,
    DEAD,
    FOREIGN,
    OWNER_FILE,
    Owner,
    holders,
    make_run_dir,
    owner_state,
    process_start,
    stale_labelled,
    stale_run_dirs,
    sweep_containers,
    sweep_run_dirs,
    tool_tmp_env,
)


def dead_pid() -> int:
    """A pid that was a process a moment ago and is none now."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_state_judges_pid_reuse_reboots_and_foreign_hosts():
    here = Owner.me()
    assert owner_state(here, here) == ALIVE
    assert owner_state(replace(here, start=(here.start or 0) + 1), here) == DEAD  # same pid, another process
    assert owner_state(replace(here, boot="another-boot"), here) == DEAD
    assert owner_state(replace(here, pid=dead_pid()), here) == DEAD
    assert owner_state(replace(here, host="elsewhere"), here) == FOREIGN  # its processes are not ours to see
    assert owner_state(replace(here, pidns="pid:[1]"), here) == FOREIGN
    assert owner_state(replace(here, start=None), here) == ALIVE  # no start time recorded: the pid decides


def test_labels_round_trip_and_bad_labels_name_no_owner():
    here = Owner.me()
    assert Owner.from_labels(here.labels()) == here
    assert Owner.from_labels({}) is None
    assert Owner.from_labels({**here.labels(), "org.ai-orchestra.owner.pid": "x"}) is None


def test_run_dirs_carry_their_owner(tmp_path):
    path = make_run_dir(tmp_path)
    assert path.name.startswith(f"harness-local-{os.getpid()}-")
    assert Owner.from_json((path / OWNER_FILE).read_text()) == Owner.me()
    assert oct(path.stat().st_mode & 0o777) == "0o755"
    staging = make_run_dir(tmp_path, kind="suites", mode=0o700)
    assert staging.name.startswith(f"harness-suites-{os.getpid()}-")
    assert oct(staging.stat().st_mode & 0o777) == "0o700"


def test_only_dirs_of_dead_owners_are_stale(tmp_path):
    here = Owner.me()

    def run_dir(name: str, owner: Owner | None) -> Path:
        path = tmp_path / name
        path.mkdir()
        (path / "postgres.log").write_text("x")
        if owner is not None:
            (path / OWNER_FILE).write_text(json.dumps(asdict(owner)))
        return path

    gone = dead_pid()
    dead = run_dir(f"harness-local-{gone}-abc123", replace(here, pid=gone))
    reused = run_dir(f"harness-local-{os.getpid()}-reused", replace(here, start=1))
    no_file = run_dir(f"harness-local-{gone}-nofile", None)
    mine = run_dir(f"harness-local-{os.getpid()}-mine", here)
    mine_no_file = run_dir(f"harness-local-{os.getpid()}-starting", None)
    foreign = run_dir(f"harness-local-{gone}-foreign", replace(here, pid=gone, host="elsewhere"))
    old_style = run_dir("harness-local-k2j4h5g6", None)  # an older harness's dir: no owner to judge
    (tmp_path / f"harness-local-{gone}-file").write_text("not a dir")
    # the private staging dirs of a killed run's raw (unredacted) output go the same way
    staged = [run_dir(f"harness-{kind}-{gone}-raw", replace(here, pid=gone)) for kind in ("suites", "locust")]
    other = run_dir(f"harness-other-{gone}-x", replace(here, pid=gone))  # not ours to judge
    assert sorted(stale_run_dirs(tmp_path)) == sorted([dead, reused, no_file, *staged])
    assert sorted(sweep_run_dirs(tmp_path)) == sorted([dead, reused, no_file, *staged])
    assert [p for p in (dead, reused, no_file, *staged) if p.exists()] == []
    assert other.exists()
    assert all(p.exists() for p in (mine, mine_no_file, foreign, old_style))


def test_the_sweep_kills_what_still_holds_files_in_a_stale_dir(tmp_path):
    gone = dead_pid()
    stale = tmp_path / f"harness-local-{gone}-abc123"
    stale.mkdir()
    (stale / OWNER_FILE).write_text(json.dumps(asdict(replace(Owner.me(), pid=gone))))
    # a server of the dead run: its cwd in the dir (like PostgreSQL), and one with only a log open in it
    in_cwd = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=stale)
    with open(stale / "redis.log", "ab") as log:
        with_log = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=log)
    outsider = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 5
        while sorted(holders(stale)) != sorted([in_cwd.pid, with_log.pid]) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(holders(stale)) == sorted([in_cwd.pid, with_log.pid])
        assert sweep_run_dirs(tmp_path) == [stale]
        assert in_cwd.wait(timeout=5) == -9 and with_log.wait(timeout=5) == -9
        assert not stale.exists()
        assert outsider.poll() is None and process_start(outsider.pid) is not None
    finally:
        for proc in (in_cwd, with_log, outsider):
            proc.kill()
            proc.wait()


def test_labelled_containers_of_dead_owners_are_picked_without_an_engine():
    here = Owner.me()
    gone = replace(here, pid=dead_pid())
    items = [
        ("live", {"org.ai-orchestra.harness": "a1", **here.labels()}),
        ("dead", {"org.ai-orchestra.harness": "b2", **gone.labels()}),
        ("rebooted", replace(here, boot="old").labels()),
        ("other-host", replace(gone, host="ci-runner-7").labels()),
        ("unlabelled", {}),
        ("older-harness", {"org.ai-orchestra.harness": "c3"}),  # no owner labels: never swept
    ]
    assert stale_labelled(items, here) == ["dead", "rebooted"]


class FakeObject:
    def __init__(self, ident: str, labels: dict[str, str], removed: list[str]) -> None:
        self.id = self.name = ident
        self.labels = labels
        self.attrs = {"Labels": labels}
        self._removed = removed

    def remove(self, **kw: object) -> None:
        self._removed.append(self.id)


class FakeClient:
    """The docker-py calls the sweep makes; `filters` is checked, not applied (the selection is ours)."""

    def __init__(self, containers: list[FakeObject], networks: list[FakeObject]) -> None:
        self.containers = self._Listing(containers)
        self.networks = self._Listing(networks)

    class _Listing:
        def __init__(self, items: list[FakeObject]) -> None:
            self.items = items

        def list(self, all: bool = False, filters: dict | None = None) -> list[FakeObject]:  # noqa: A002
            assert filters == {"label": "org.ai-orchestra.owner.pid"}
            return self.items


def test_sweep_containers_removes_the_dead_owners_containers_then_networks():
    here = Owner.me()
    gone = replace(here, pid=dead_pid())
    removed: list[str] = []
    client = FakeClient(
        [FakeObject("c-live", here.labels(), removed), FakeObject("c-dead", gone.labels(), removed)],
        [FakeObject("n-dead", gone.labels(), removed), FakeObject("n-live", here.labels(), removed)],
    )
    assert sweep_containers(client, here) == ["c-dead", "n-dead"]
    assert removed == ["c-dead", "n-dead"]


def test_sweep_containers_never_stops_a_run():
    class Broken:
        @property
        def containers(self):
            raise ConnectionError("engine gone")

    assert sweep_containers(Broken(), Owner.me()) == []


RUN = """
import json, subprocess, sys, time
from pathlib import Path
from harness.stack.sweep import make_run_dir, tool_tmp_env
stage = make_run_dir(root=Path(sys.argv[1]), kind="suites", mode=0o700)
tool = subprocess.Popen(
    [sys.executable, "-c", "import tempfile, time; d = tempfile.mkdtemp(prefix='trivy-'); "
     "open(d + '/raw-scan.json', 'w').write('{}'); print(d, flush=True); time.sleep(60)"],
    env={**__import__('os').environ, **tool_tmp_env(stage)}, stdout=subprocess.PIPE, text=True)
print(json.dumps({"stage": str(stage), "tool_tmp": tool.stdout.readline().strip(), "tool": tool.pid}), flush=True)
time.sleep(60)
"""


def test_a_tools_temp_dir_lives_in_the_run_dir_and_goes_with_a_killed_run(tmp_path):
    """A tool the run starts (trivy, Locust, pytest) writes its temp files where TMPDIR says: tool_tmp_env puts
    them inside the run's own dir, so a SIGKILLed run's raw scan output is swept with it at the next start."""
    run = subprocess.Popen([sys.executable, "-c", RUN, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    tool = None
    try:
        seen = json.loads(run.stdout.readline())
        tool = seen["tool"]
        stage, tool_tmp = Path(seen["stage"]), Path(seen["tool_tmp"])
        assert tool_tmp.is_relative_to(stage) and (tool_tmp / "raw-scan.json").is_file()
        run.kill()
        run.wait()
        assert sweep_run_dirs(tmp_path) == [stage]
        assert not tool_tmp.exists() and not stage.exists()
    finally:
        run.kill()
        run.wait()
        if tool is not None:
            try:
                os.kill(tool, 9)
            except OSError:
                pass


PROBE = """
from hypothesis import given, settings, strategies as st

WORD = "a constant of a local module, which hypothesis caches"


@settings(database=None, max_examples=5)
@given(st.text())
def check(x):
    pass


check()
"""


def test_hypothesis_keeps_its_cache_in_the_run_dir_not_the_working_directory(tmp_path):
    """Hypothesis writes a `.hypothesis/` cache into the working directory even with its example database off
    (the contract suite runs it): under tool_tmp_env it goes into the run's stage, the user's directory stays."""
    stage, cwd = make_run_dir(root=tmp_path, kind="suites", mode=0o700), tmp_path / "user"
    cwd.mkdir()
    (cwd / "probe.py").write_text(PROBE)
    env = {k: v for k, v in os.environ.items() if k != "HYPOTHESIS_STORAGE_DIRECTORY"}
    done = subprocess.run(
        [sys.executable, "probe.py"], cwd=cwd, env={**env, **tool_tmp_env(stage)}, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert (stage / "tmp" / "hypothesis").is_dir()  # it did write its cache: there
    assert [p.name for p in cwd.iterdir()] == ["probe.py"]
