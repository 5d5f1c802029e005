"""examples/shop, a deliberately vulnerable orders API gated from its profile alone, as a target the harness
did not start. Each class of the security suite is a fault (SHOP_FAULTS) and must be found; each trap of the
clean build (the body validated before the token, 404 for an unknown order before the token, an optional-auth
product list whose document declares the token, short test passwords) must raise nothing: by default (GETs
and the logins only) and with --allow-unsafe."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from .conftest import ROOT, example_service

PROFILE = str(ROOT / "examples" / "shop" / "service.toml")
USERS = "alice:alice1:admin,bob:bob12:user"  # shorter than the 8 characters a {secret:} needs
CREDENTIALS = {
    "SHOP_ADMIN_USER": "alice",
    "SHOP_ADMIN_PASSWORD_B64": base64.b64encode(b"alice1").decode(),
    "SHOP_USER": "bob",
    "SHOP_PASSWORD_B64": base64.b64encode(b"bob12").decode(),
}
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
EVERY_FAULT = "sqli,bola,mass_assignment,user_enumeration"


@contextmanager
def shop(tmp_path: Path, faults: str = "") -> Iterator[tuple[str, Path]]:
    log = tmp_path / "shop-access.log"
    env = {"SHOP_USERS": USERS, "SHOP_FAULTS": faults, "SHOP_ACCESS_LOG": str(log)}
    with example_service("shop", "SHOP_", env, log, "the shop") as (url, _):
        yield url, log


def gate(harness, url: str, *args: str):
    return harness("gate", "--target", url, "--service", PROFILE, "--phase", "pr", *args, timeout=300, **CREDENTIALS)


def statuses(run) -> dict[str, str]:
    return {g["id"]: g["status"] for g in run.verdict["gates"]}


def security_findings(run) -> list[dict]:
    return json.loads((run.reports / "security" / "findings.json").read_text())["findings"]


def auth_doc(run) -> dict:
    return json.loads((run.reports / "security" / "findings" / "auth.json").read_text())


def test_the_clean_build_raises_nothing_by_default_and_every_trap_is_silent(harness, tmp_path):
    with shop(tmp_path) as (url, log):
        run = gate(harness, url, "--suites", "smoke,contract,security")
        sent = [
            (ln.split(" ", 1)[0], ln.split(" ", 1)[1].rsplit(" ", 1)[0], ln.rsplit(" ", 1)[1])
            for ln in log.read_text().splitlines()
        ]
    got = statuses(run)
    assert run.code == 2, f"{run.out[-3000:]}\n{run.err[-2000:]}"  # load not run: inconclusive at best
    for gate_id in ("smoke.health", "smoke.all", "security.injection"):
        assert got[gate_id] == "pass", (gate_id, got, run.verdict["reasons"])
    # nothing false: no gate fails; what the unsafe operations would have shown is not run (never a pass)
    assert "fail" not in got.values(), run.verdict["reasons"]
    for gate_id in ("contract.openapi", "security.auth_failures"):
        assert got[gate_id] == "not_run", (gate_id, got)
        assert "--allow-unsafe" in next(g["reason"] for g in run.verdict["gates"] if g["id"] == gate_id)
    assert not [f for f in security_findings(run) if f["check"] in ("auth", "injection")]
    doc = auth_doc(run)
    unjudged = {u["operation"]: u for u in doc["unjudged"]}
    # the body is validated before the token: the right token gets 400 too, so nothing is judged there
    assert "POST /api/orders" not in unjudged  # unsafe: not even called by default
    # 404 before the token: with a real order id (from the listing) no token gets 401
    probes = [p for p in doc["probes"] if p["operation"] == "GET /api/orders/{order_id}"]
    assert probes and {p["status"] for p in probes} == {401}, probes
    assert "order_id from a listing" in doc["identifiers"]["GET /api/orders/{order_id}"]
    assert {s["operation"] for s in doc["skipped"]} >= {"GET /api/products"}  # optional auth: not probed
    unsafe = {(m, p) for m, p, _ in sent if m in UNSAFE}
    assert unsafe == {("POST", "/api/login")}, unsafe  # the logins (and the enumeration probe), nothing else
    every_report = "".join(p.read_text(errors="replace") for p in run.reports.rglob("*") if p.is_file())
    for secret in CREDENTIALS.values():
        if secret not in ("alice", "bob"):
            assert secret not in every_report


def test_the_clean_build_with_allow_unsafe_raises_nothing(harness, tmp_path):
    with shop(tmp_path) as (url, _):
        run = gate(harness, url, "--suites", "security", "--allow-unsafe")
    got = statuses(run)
    assert got["security.auth_failures"] == "pass" and got["security.injection"] == "pass", run.verdict["reasons"]
    assert not [f for f in security_findings(run) if f["check"] in ("auth", "injection")]
    doc = auth_doc(run)
    unjudged = {u["operation"]: u for u in doc["unjudged"]}
    assert unjudged["POST /api/orders"]["status"] == 400  # the body before the token: unjudged, not a finding
    assert "mass_assignment" in doc["api_checks"] and doc["api_checks"]["mass_assignment"]["judged"]


@pytest.mark.parametrize("unsafe", [False, True], ids=["default", "allow-unsafe"])
def test_every_class_is_found_and_names_its_gate(harness, tmp_path, unsafe):
    flags = ("--allow-unsafe",) if unsafe else ()
    with shop(tmp_path, faults=EVERY_FAULT) as (url, _):
        run = gate(harness, url, "--suites", "security", *flags)
    got = statuses(run)
    assert run.code == 1, f"{run.out[-3000:]}\n{run.err[-1500:]}"
    assert got["security.injection"] == "fail" and got["security.auth_failures"] == "fail", got
    rules = {f["rule_id"] for f in security_findings(run)}
    assert "inject.sql" in rules and "auth.bola" in rules and "auth.user_enumeration" in rules, rules
    assert ("auth.mass_assignment" in rules) is unsafe  # a create is unsafe: only with --allow-unsafe
    sqli = next(f for f in security_findings(run) if f["rule_id"] == "inject.sql")
    assert sqli["details"]["payload"] == "'" and sqli["details"]["curl"].startswith("curl ")
    assert "database error" in sqli["title"] and sqli["details"]["control_status"] == 200
    enum = next(f for f in security_findings(run) if f["rule_id"] == "auth.user_enumeration")
    assert enum["severity"] == "low" and not enum["blocking"]
    reasons = " ".join(run.verdict["reasons"])
    assert "security.injection" in reasons and "security.auth_failures" in reasons
