"""A throwaway Prometheus for a stack the harness started: a 1 s scrape of every app the stack started (label
track="candidate" / "baseline"), and the alert rules of deploy/prometheus/alerts.yml with short `for:` durations
so that they can fire within a run. The local stack runs the binary on a free loopback port with temp storage
(prometheus_service); the containers stack runs an image on its network with the same files (prometheus_files)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml

from harness.errors import MissingBinaryError, StackError
from harness.http import fetch
from harness.process import Service

INSTALL = "apt-get install -y --no-install-recommends prometheus"
ALERTS = Path("deploy/prometheus/alerts.yml")
RULE_FOR = "2s"  # the local copy's `for:`: long enough to need two evaluations, short enough for a 60 s run
EVAL_INTERVAL = "1s"
CONFIG, RULES = "prometheus.yml", "alerts.local.yml"


def find_prometheus(name: str) -> str:
    """The Prometheus server binary, or a one-line error with the install command."""
    path = shutil.which(name)
    if not path:
        raise MissingBinaryError(
            f"the Prometheus server ({name}) is not on PATH and the live phases need it on a local stack; "
            f"install it (Debian: {INSTALL}) or set HARNESS_PROMETHEUS_BIN to its path"
        )
    return path


def local_rules(source: Path) -> dict[str, Any]:
    """The alert rules of `source`, for a local run: every group evaluated each second, every `for:` short,
    and the aggregations kept per track (sum(...) -> sum by (track) (...)), so an alert names the app it is about."""
    raw = yaml.safe_load(source.read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("groups"), list):
        raise StackError(f"{source} is not a Prometheus rules file (no groups)")
    for group in raw["groups"]:
        group["interval"] = EVAL_INTERVAL
        for rule in group.get("rules") or []:
            if "alert" not in rule:
                continue
            if "for" in rule:
                rule["for"] = RULE_FOR
            rule["expr"] = per_track(str(rule["expr"]))
    return raw


def per_track(expr: str) -> str:
    """Keep the `track` label through the rule's aggregations."""
    expr = re.sub(r"\bsum\s+by\s*\(\s*le\s*\)", "sum by (le, track)", expr)
    return re.sub(r"\bsum\s*\(", "sum by (track) (", expr)


def config(apps: dict[str, str], rules_file: str | Path | None) -> dict[str, Any]:
    """prometheus.yml scraping each app (track -> host:port URL) every second."""
    jobs = []
    for track, url in apps.items():
        scheme, _, hostport = url.partition("://")
        job: dict[str, Any] = {
            "job_name": f"ai-orchestra-{track}",
            "scheme": scheme,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [hostport.rstrip("/")], "labels": {"track": track}}],
        }
        if scheme == "https":
            job["tls_config"] = {"insecure_skip_verify": True}  # the stack's own, possibly expired, certificate
        jobs.append(job)
    doc: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": EVAL_INTERVAL},
        "scrape_configs": jobs,
    }
    if rules_file is not None:
        doc["rule_files"] = [str(rules_file)]
    return doc


def scraped_tracks(url: str) -> set[str]:
    """The tracks whose app Prometheus has scraped successfully (`up == 1`); raises while it cannot say."""
    answer = fetch(f"{url}/api/v1/query?{urlencode({'query': 'up == 1'})}", deadline_s=2)
    body = json.loads(answer.body)
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus answered {answer.status}")
    return {str(r.get("metric", {}).get("track")) for r in body["data"]["result"]}


def prometheus_files(apps: dict[str, str], project_root: Path, directory: str | Path) -> dict[str, str]:
    """The files of a Prometheus that reads them from `directory`, by name: its config (CONFIG) scraping `apps`
    (track -> URL), and the local copy of the project's alert rules (RULES) when the project has them."""
    files: dict[str, str] = {}
    source = project_root / ALERTS
    rules = None
    if source.is_file():
        rules = f"{directory}/{RULES}"
        files[RULES] = yaml.safe_dump(local_rules(source), sort_keys=False)
    files[CONFIG] = yaml.safe_dump(config(apps, rules), sort_keys=False)
    return files


def prometheus_service(binary: str, workdir: Path, apps: dict[str, str], project_root: Path, port: int) -> Service:
    """The Prometheus Service (not started) with its config and rules written into workdir/prometheus/."""
    home = workdir / "prometheus"
    (home / "data").mkdir(parents=True)
    for name, text in prometheus_files(apps, project_root, home).items():
        (home / name).write_text(text)
    cfg = home / CONFIG
    return Service(
        "prometheus",
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        workdir / "prometheus.log",
        cwd=home,
    )
