"""ZAP's "traditional JSON" report (zap-baseline.py -J): written for the native rules, read to ingest.

    {"@programName", "@version", "@generated", "site": [{"@name", "@host", "@port", "@ssl",
      "alerts": [{"pluginid", "alertRef", "alert", "name", "riskcode", "confidence", "riskdesc", "desc",
                  "instances": [{"uri", "method", "param", "attack", "evidence", "otherinfo"}],
                  "count", "solution", "otherinfo", "reference", "cweid", "wascid", "sourceid"}]}]}

Values are strings, as ZAP writes them. The ZAP API (core/view/alerts) uses pluginId / risk names
instead; from_api_alerts() turns those into the same Alert objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.jsonfile import load_json
from harness.security.errors import ZapReportError
from harness.security.findings import Finding, url_key
from harness.security.rules import Rules

RISKS = ("Informational", "Low", "Medium", "High")
CONFIDENCES = ("False Positive", "Low", "Medium", "High", "Confirmed")
_SEVERITY = ("info", "low", "medium", "high")
_LEVEL = {"FAIL": "FAIL", "WARN": "WARN", "INFO": "INFO"}


@dataclass(slots=True)
class Instance:
    uri: str
    method: str = "GET"
    param: str = ""
    attack: str = ""
    evidence: str = ""
    otherinfo: str = ""


@dataclass(slots=True)
class Alert:
    """One ZAP alert (one rule) with the places it was raised."""

    pluginid: str
    name: str
    riskcode: int
    confidence: int
    instances: list[Instance] = field(default_factory=list)
    alert_ref: str = ""
    desc: str = ""
    solution: str = ""
    reference: str = ""
    cweid: str = "-1"
    wascid: str = "-1"
    source: str = "native"

    def to_json(self) -> dict[str, Any]:
        return {
            "pluginid": self.pluginid,
            "alertRef": self.alert_ref or self.pluginid,
            "alert": self.name,
            "name": self.name,
            "riskcode": str(self.riskcode),
            "confidence": str(self.confidence),
            "riskdesc": f"{RISKS[self.riskcode]} ({CONFIDENCES[self.confidence]})",
            "desc": self.desc,
            "instances": [
                {
                    "id": str(i),
                    "uri": inst.uri,
                    "nodeName": inst.uri,
                    "method": inst.method,
                    "param": inst.param,
                    "attack": inst.attack,
                    "evidence": inst.evidence,
                    "otherinfo": inst.otherinfo,
                }
                for i, inst in enumerate(self.instances)
            ],
            "count": str(len(self.instances)),
            "systemic": False,
            "solution": self.solution,
            "otherinfo": "",
            "reference": self.reference,
            "cweid": self.cweid,
            "wascid": self.wascid,
            "sourceid": {"native": "3", "zap": "3"}.get(self.source, "3"),
        }


def merge(alerts: list[Alert]) -> list[Alert]:
    """One Alert per (plugin id, alertRef), instances deduplicated (the same place seen twice counts once)."""
    out: dict[tuple[str, str], Alert] = {}
    for a in alerts:
        key = (a.pluginid, a.alert_ref or a.pluginid)
        if key not in out:
            out[key] = replace(a, instances=[])
        merged = out[key]
        merged.riskcode = max(merged.riskcode, a.riskcode)
        seen = {(i.method, i.uri, i.param) for i in merged.instances}
        for inst in a.instances:
            if (inst.method, inst.uri, inst.param) not in seen:
                merged.instances.append(inst)
                seen.add((inst.method, inst.uri, inst.param))
    return sorted(out.values(), key=lambda a: (-a.riskcode, a.pluginid))


def to_report(alerts: list[Alert], *, program: str, version: str) -> dict[str, Any]:
    """A traditional-JSON document, alerts grouped by site (scheme://host:port) as ZAP does."""
    sites: dict[str, list[Alert]] = {}
    for a in merge(alerts):
        by_site: dict[str, list[Instance]] = {}
        for inst in a.instances:
            p = urlsplit(inst.uri)
            by_site.setdefault(f"{p.scheme}://{p.netloc}", []).append(inst)
        for site, instances in by_site.items():
            sites.setdefault(site, []).append(replace(a, instances=instances))
    doc_sites = []
    for site, site_alerts in sites.items():
        p = urlsplit(site)
        port = p.port or (443 if p.scheme == "https" else 80)
        doc_sites.append(
            {
                "@name": site,
                "@host": p.hostname or "",
                "@port": str(port),
                "@ssl": str(p.scheme == "https").lower(),
                "alerts": [a.to_json() for a in site_alerts],
            }
        )
    now = datetime.now(UTC)
    return {
        "@programName": program,
        "@version": version,
        "@generated": now.strftime("%a, %d %b %Y %H:%M:%S"),
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "site": doc_sites,
    }


def _int(value: Any, what: str, where: str, top: int) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise ZapReportError(f"{where}: {what} {value!r} is not a number") from None
    if not 0 <= number <= top:
        raise ZapReportError(f"{where}: {what} {number} is out of range 0..{top}")
    return number


def parse_report(doc: Any, where: str, source: str = "zap-report") -> list[Alert]:
    """Alerts of a traditional-JSON report; ZapReportError names the first thing that is wrong."""
    hint = "regenerate it with zap-baseline.py -J"
    if not isinstance(doc, dict) or "site" not in doc:
        raise ZapReportError(f"ZAP report {where} has no 'site' list; is it a zap-baseline JSON report? {hint}")
    sites = doc["site"]
    if isinstance(sites, dict):  # old ZAP versions wrote a single site as an object
        sites = [sites]
    if not isinstance(sites, list):
        raise ZapReportError(f"ZAP report {where}: 'site' is not a list; {hint}")
    alerts = []
    for si, site in enumerate(sites):
        if not isinstance(site, dict) or not isinstance(site.get("alerts", []), list):
            raise ZapReportError(f"ZAP report {where}: site[{si}] has no alerts list; {hint}")
        site_name = str(site.get("@name", ""))
        for ai, raw in enumerate(site.get("alerts", [])):
            at = f"ZAP report {where}: site[{si}].alerts[{ai}]"
            if not isinstance(raw, dict) or not str(raw.get("pluginid", "")).strip():
                raise ZapReportError(f"{at} has no pluginid; {hint}")
            instances = raw.get("instances", [])
            if not isinstance(instances, list):
                raise ZapReportError(f"{at}: instances is not a list; {hint}")
            insts = []
            for inst in instances:
                if not isinstance(inst, dict):
                    raise ZapReportError(f"{at}: an instance is not an object; {hint}")
                insts.append(
                    Instance(
                        uri=str(inst.get("uri") or site_name),
                        method=str(inst.get("method") or "GET"),
                        param=str(inst.get("param") or ""),
                        attack=str(inst.get("attack") or ""),
                        evidence=str(inst.get("evidence") or ""),
                        otherinfo=str(inst.get("otherinfo") or ""),
                    )
                )
            alerts.append(
                Alert(
                    pluginid=str(raw["pluginid"]).strip(),
                    name=str(raw.get("alert") or raw.get("name") or f"ZAP rule {raw['pluginid']}"),
                    riskcode=_int(raw.get("riskcode"), "riskcode", at, 3),
                    confidence=_int(raw.get("confidence", 2), "confidence", at, 4),
                    instances=insts or [Instance(uri=site_name)],
                    alert_ref=str(raw.get("alertRef") or ""),
                    desc=str(raw.get("desc") or ""),
                    solution=str(raw.get("solution") or ""),
                    reference=str(raw.get("reference") or ""),
                    cweid=str(raw.get("cweid") or "-1"),
                    wascid=str(raw.get("wascid") or "-1"),
                    source=source,
                )
            )
    return alerts


def read_report(path: Path) -> list[Alert]:
    """Ingest a zap-baseline JSON report file (--zap-report FILE / HARNESS_ZAP_REPORT)."""
    doc = load_json(
        path,
        "ZAP report",
        ZapReportError,
        missing="does not exist; fix --zap-report / HARNESS_ZAP_REPORT",
        hint="regenerate it with zap-baseline.py -J",
    )
    return parse_report(doc, str(path))


def from_api_alerts(raw_alerts: list[dict[str, Any]]) -> list[Alert]:
    """ZAP API alerts (core/view/alerts: pluginId, alert, risk, confidence, url, method, ...) -> Alerts."""
    risk = {name.lower(): i for i, name in enumerate(RISKS)}
    conf = {name.lower(): i for i, name in enumerate(CONFIDENCES)}
    conf["user confirmed"] = 4
    out = []
    for i, raw in enumerate(raw_alerts):
        if not isinstance(raw, dict) or not str(raw.get("pluginId", "")).strip():
            raise ZapReportError(f"ZAP API alert #{i} has no pluginId; is ZAP_API_URL a ZAP daemon?")
        r = str(raw.get("risk", "")).strip().lower()
        if r not in risk:
            raise ZapReportError(f"ZAP API alert #{i} ({raw['pluginId']}) has unknown risk {raw.get('risk')!r}")
        out.append(
            Alert(
                pluginid=str(raw["pluginId"]).strip(),
                name=str(raw.get("alert") or raw.get("name") or ""),
                riskcode=risk[r],
                confidence=conf.get(str(raw.get("confidence", "medium")).strip().lower(), 2),
                instances=[
                    Instance(
                        uri=str(raw.get("url", "")),
                        method=str(raw.get("method") or "GET"),
                        param=str(raw.get("param") or ""),
                        attack=str(raw.get("attack") or ""),
                        evidence=str(raw.get("evidence") or ""),
                        otherinfo=str(raw.get("other") or raw.get("otherinfo") or ""),
                    )
                ],
                alert_ref=str(raw.get("alertRef") or ""),
                desc=str(raw.get("description") or ""),
                solution=str(raw.get("solution") or ""),
                reference=str(raw.get("reference") or ""),
                cweid=str(raw.get("cweid") or "-1"),
                wascid=str(raw.get("wascid") or "-1"),
                source="zap",
            )
        )
    return merge(out)


def findings_from_alerts(alerts: list[Alert], rules: Rules) -> list[Finding]:
    """One Finding per alert instance, at the level the rules file gives it; IGNORE and out-of-scope dropped."""
    out = []
    for a in alerts:
        ref = a.alert_ref or None
        if rules.dropped(a.pluginid, ref):
            continue
        level = _LEVEL[rules.level(a.pluginid, ref)]
        for inst in a.instances:
            if not rules.in_scope(a.pluginid, inst.uri, ref):
                continue
            out.append(
                Finding(
                    source=a.source,
                    rule_id=a.pluginid,
                    title=a.name,
                    severity=_SEVERITY[a.riskcode],
                    level=level,
                    method=inst.method,
                    url=inst.uri,
                    evidence=inst.evidence[:300],
                    key=f"{inst.method} {url_key(inst.uri)} {inst.param}",
                    details={"confidence": CONFIDENCES[a.confidence], "param": inst.param, "cweid": a.cweid},
                )
            )
    return out
