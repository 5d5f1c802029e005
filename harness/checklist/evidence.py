"""The evidence behind each checklist item: evaluate(item, context) -> Result (pass, fail or n/a, and the
one line of evidence that says why). Malformed inputs (a JUnit or coverage file that is not XML) are
ConfigError lines; a missing attestation, a failing test or an unknown alert fail their item."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tempfile
import uuid
import xml.etree.ElementTree as ET  # noqa: S405 - files the user's own CI produced
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from harness.checklist import ITEMS
from harness.checklist.attestations import load_attestations
from harness.checklist.options import ChecklistOptions
from harness.errors import ConfigError
from harness.target import Target

SECURITY_GATES = ("security.trivy_vulns", "security.trivy_high_critical", "security.zap_fail")
PERFORMANCE_GATES = ("load.p95_ms", "load.error_ratio", "load.rps", "load.ws_connect_ratio")
TLS_GATES = ("security.tls",)
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Rollout"}


@dataclass(frozen=True, slots=True)
class Result:
    state: str  # "pass" | "fail" | "n/a"
    evidence: str


@dataclass(slots=True)
class Context:
    options: ChecklistOptions
    project_root: Path
    target: Target | None = None
    pg_bin_dir: Path | None = None
    openapi_path: str = "/openapi.json"
    openapi_baseline: Path | None = None
    today: date | None = None


def _xml(path: Path, what: str) -> ET.Element:
    try:
        return ET.parse(path).getroot()  # noqa: S314
    except (ET.ParseError, OSError) as exc:
        raise ConfigError(f"checklist {what}: {path} is not a readable XML file ({exc}); fix it") from None


def _unset(key: str) -> Result:
    return Result("fail", f"no evidence: set [tool.harness.checklist] {key} (or HARNESS_CHECKLIST_{key.upper()})")


def tests_passing(ctx: Context) -> Result:
    path = ctx.options.junit
    if path is None:
        return _unset("junit")
    root = _xml(path, "junit")
    suites = [root] if root.tag == "testsuite" else root.findall(".//testsuite")
    counts = {k: sum(int(s.get(k, 0) or 0) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
    line = f"{path.name}: {counts['tests']} tests, {counts['failures']} failures, {counts['errors']} errors"
    ok = counts["tests"] > 0 and counts["failures"] == 0 and counts["errors"] == 0
    return Result("pass" if ok else "fail", line)


def coverage(ctx: Context) -> Result:
    path = ctx.options.coverage
    if path is None:
        return _unset("coverage")
    root = _xml(path, "coverage")
    try:
        pct = 100.0 * float(root.get("line-rate", ""))
    except ValueError:
        raise ConfigError(f"checklist coverage: {path} has no Cobertura line-rate on its root; fix it") from None
    minimum = ctx.options.coverage_min
    return Result(
        "pass" if pct > minimum else "fail", f"{path.name}: line coverage {pct:.1f} % (needs > {minimum:g} %)"
    )


def _verdict_gates(ctx: Context, gates: tuple[str, ...]) -> Result:
    path = ctx.options.verdict
    if path is None:
        return _unset("verdict")
    try:
        doc = json.loads(path.read_text())
        statuses = {g["id"]: g["status"] for g in doc["gates"]}
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ConfigError(f"checklist verdict: {path} is not a verdict.json ({exc}); fix it") from None
    found = {g: statuses.get(g, "absent") for g in gates}
    line = f"{path.name} ({doc.get('phase')}, {doc.get('finished_at')}): " + ", ".join(
        f"{g} {s}" for g, s in found.items()
    )
    return Result("pass" if set(found.values()) == {"pass"} else "fail", line)


def migrations(ctx: Context) -> Result:
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config(output_buffer=io.StringIO())
    import app.migrations  # the reference service's migrations, in a checkout or an installed wheel

    config.set_main_option("script_location", str(Path(app.migrations.__path__[0])))
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg://offline/render")
    heads = ScriptDirectory.from_config(config).get_heads()
    if len(heads) != 1:
        return Result("fail", f"{len(heads)} migration heads ({', '.join(heads)}); merge them")
    command.upgrade(config, "head", sql=True)
    sql = config.output_buffer.getvalue()  # type: ignore[union-attr]
    ok = "CREATE TABLE" in sql
    return Result(
        "pass" if ok else "fail", f"one head ({heads[0]}); upgrade --sql renders {len(sql.splitlines())} lines"
    )


def cache(ctx: Context) -> Result:
    if ctx.target is None or not ctx.target.redis_url:
        return Result("n/a", "the target names no Redis (only a stack the harness starts does)")
    import redis

    client = redis.Redis.from_url(ctx.target.redis_url, decode_responses=True, socket_timeout=3)
    try:
        client.ping()
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        maxmemory = client.config_get("maxmemory").get("maxmemory")
    except redis.RedisError as exc:
        return Result("fail", f"Redis not reachable: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    return Result("pass" if policy else "fail", f"Redis answers PING; maxmemory-policy {policy}, maxmemory {maxmemory}")


def load_balancer(ctx: Context) -> Result:
    import yaml

    problems, workloads = [], 0
    for path in sorted(ctx.options.manifests.rglob("*.y*ml")):
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
        except yaml.YAMLError:
            continue  # not a manifest (a Prometheus rules file parses; a template may not)
        for doc in docs:
            if doc.get("kind") not in WORKLOADS:
                continue
            workloads += 1
            spec = (((doc.get("spec") or {}).get("template") or {}).get("spec")) or {}
            for c in spec.get("containers") or []:
                lacks = [k for k in ("readinessProbe", "livenessProbe") if not c.get(k)]
                limits = ((c.get("resources") or {}).get("limits")) or {}
                lacks += [f"limits.{k}" for k in ("cpu", "memory") if k not in limits]
                if lacks:
                    problems.append(f"{path.name} {doc['kind']}/{c.get('name')}: no {', '.join(lacks)}")
    if workloads == 0:
        return Result("fail", f"no Deployment/StatefulSet/Rollout manifest under {ctx.options.manifests}")
    if problems:
        return Result("fail", "; ".join(problems[:3]))
    return Result("pass", f"{workloads} workload manifest(s): readiness and liveness probes, cpu and memory limits")


def backups(ctx: Context) -> Result:
    if ctx.target is None or not ctx.target.database_url:
        return Result("n/a", "the target names no database (only a stack the harness starts does)")
    import psycopg
    from psycopg import sql

    from harness.rollback.database import _with_database, libpq
    from harness.stack.local import find_pg_bin

    url = libpq(ctx.target.database_url)
    bin_dir = find_pg_bin(ctx.pg_bin_dir)
    scratch = f"checklist_restore_{uuid.uuid4().hex[:10]}"
    admin = libpq(_with_database(url, "postgres"))

    def counts(db_url: str) -> dict[str, int]:
        with psycopg.connect(db_url, connect_timeout=5) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
            return {
                t: int(conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0])
                for t in tables
            }  # type: ignore[index]

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "backup.dump"
        done = subprocess.run(
            [str(bin_dir / "pg_dump"), "--format=custom", f"--file={dump}", f"--dbname={url}"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return Result(
                "fail",
                f"pg_dump failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}",
            )
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            restored = libpq(_with_database(url, scratch))
            done = subprocess.run(
                [str(bin_dir / "pg_restore"), "--no-owner", f"--dbname={restored}", str(dump)],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if done.returncode != 0:
                return Result("fail", f"pg_restore failed: {done.stderr.strip()[-200:]}")
            before, after = counts(url), counts(restored)
        finally:
            with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
    if before != after:
        diff = [
            f"{t}: {before.get(t)} -> {after.get(t)}"
            for t in sorted(set(before) | set(after))
            if before.get(t) != after.get(t)
        ]
        return Result("fail", "restore differs: " + "; ".join(diff[:3]))
    rows = sum(before.values())
    return Result("pass", f"pg_dump restored into a scratch database: {len(before)} tables, {rows} rows, same counts")


def api_docs(ctx: Context) -> Result:
    baseline = ctx.openapi_baseline
    if baseline is None or not baseline.is_file():
        return Result("fail", "no committed OpenAPI baseline (service profile files.openapi_baseline)")
    if ctx.target is None:
        return Result("n/a", "no target to read the served OpenAPI document from")
    from harness.http import get as bounded_get

    resp = bounded_get(ctx.target.url(ctx.openapi_path), deadline_s=10, verify=ctx.target.ca_file or True)
    if resp.status_code != 200:
        return Result("fail", f"GET {ctx.openapi_path} answered {resp.status_code}")
    if resp.json() == json.loads(baseline.read_text()):
        return Result("pass", f"the served {ctx.openapi_path} equals {baseline.name}")
    rel = baseline.relative_to(ctx.project_root) if baseline.is_relative_to(ctx.project_root) else baseline
    changed = subprocess.run(
        ["git", "diff", "--name-only", "HEAD~1", "HEAD", "--", str(rel)],
        cwd=ctx.project_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if changed.returncode == 0 and changed.stdout.strip():
        return Result("pass", f"the served document differs from {baseline.name}, which this commit updates")
    return Result(
        "fail", f"the served {ctx.openapi_path} differs from {baseline.name} and this commit does not update it"
    )


def runbook(ctx: Context) -> Result:
    import yaml

    if ctx.options.runbook is None:
        return _unset("runbook")
    if not ctx.options.alerts.is_file():
        return Result("fail", f"{ctx.options.alerts} does not exist: no alerts to look for in the runbook")
    rules = yaml.safe_load(ctx.options.alerts.read_text()) or {}
    alerts = [r["alert"] for g in rules.get("groups", []) for r in g.get("rules", []) if "alert" in r]
    text = ctx.options.runbook.read_text()
    missing = [a for a in alerts if a not in text]
    if not alerts:
        return Result("fail", f"{ctx.options.alerts.name} defines no alert")
    if missing:
        return Result("fail", f"{ctx.options.runbook.name} does not name alert(s) {', '.join(missing)}")
    return Result("pass", f"{ctx.options.runbook.name} names all {len(alerts)} alerts of {ctx.options.alerts.name}")


def changelog(ctx: Context) -> Result:
    version = ctx.target.version if ctx.target is not None else None
    if not version:
        return Result("fail", "the target reports no version to look for in the change log")
    path = ctx.options.changelog
    if not path.is_file():
        return Result("fail", f"{path} does not exist")
    heading = re.compile(rf"^#+ .*\b{re.escape(version)}\b", re.MULTILINE)
    if heading.search(path.read_text()):
        return Result("pass", f"{path.name} has an entry for {version}")
    return Result("fail", f"{path.name} has no entry (heading) for version {version}")


def attested(ctx: Context, item: str) -> Result:
    if ctx.options.attestations is None:
        return _unset("attestations")
    found = load_attestations(ctx.options.attestations).get(item)
    if found is None:
        return Result("fail", f"not attested in {ctx.options.attestations.name}")
    holds, line = found.state(ctx.today or date.today())
    return Result("pass" if holds else "fail", line)


def evaluate(item: str, ctx: Context) -> Result:
    """One item's result."""
    automated: dict[str, Any] = {
        "tests_passing": tests_passing,
        "coverage": coverage,
        "security": lambda c: _verdict_gates(c, SECURITY_GATES),
        "performance": lambda c: _verdict_gates(c, PERFORMANCE_GATES),
        "migrations": migrations,
        "cache": cache,
        "load_balancer": load_balancer,
        "ssl": lambda c: _verdict_gates(c, TLS_GATES),
        "backups": backups,
        "api_docs": api_docs,
        "runbook": runbook,
        "changelog": changelog,
    }
    if item in automated:
        return automated[item](ctx)  # type: ignore[no-any-return]
    assert item in {i.id for i in ITEMS}, item
    return attested(ctx, item)
