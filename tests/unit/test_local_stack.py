"""The local stack without servers: the logs an error names outlive its temp dir (copied, redacted)."""

from __future__ import annotations

from harness.config import load_settings
from harness.stack.containers import ContainersStack
from harness.stack.local import LocalStack
from harness.stack.sweep import Owner


def test_logs_an_error_names_are_copied_next_to_the_verdict_and_the_message_names_the_copies(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    stack = LocalStack(load_settings({"reports_dir": tmp_path / "reports"}, env={}, root=tmp_path))
    stack.workdir = tmp_path / "harness-local-1-abc"
    stack.workdir.mkdir()
    stack._secrets = ["s3cret-token"]
    (stack.workdir / "postgres.log").write_text("FATAL: bad thing for s3cret-token\n")
    (stack.workdir / "initdb.log").write_text("never named\n")
    message = (
        f"PostgreSQL exited before it was ready: postgres exit status 1; log {stack.workdir}/postgres.log: FATAL"
        f" (data dir {stack.workdir}/pg, missing {stack.workdir}/gone.log)"
    )
    kept = stack._keep_logs(message)
    copy = tmp_path / "reports" / "stack" / "postgres.log"
    assert f"log {copy}: FATAL" in kept
    assert copy.read_text() == "FATAL: bad thing for ***\n"
    assert f"{stack.workdir}/pg," in kept and f"{stack.workdir}/gone.log" in kept  # no file: nothing to copy
    assert not (tmp_path / "reports" / "stack" / "initdb.log").exists()


def test_containers_and_their_network_carry_the_owner_for_a_later_sweep(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname='x'\n")
    stack = ContainersStack(load_settings({}, env={}, root=tmp_path))
    labels = stack.labels("app")
    assert labels["org.ai-orchestra.harness"] == stack.run_id and labels["org.ai-orchestra.role"] == "app"
    assert Owner.from_labels(labels) == Owner.me()
