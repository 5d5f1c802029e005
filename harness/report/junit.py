"""reports/gates.xml: one JUnit testcase per gate, so CI shows the gates beside the checks."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.redact import redact_data


def render(doc: dict[str, Any]) -> str:
    gates = doc["gates"]
    suite = ET.Element(
        "testsuite",
        name=f"harness.gates.{doc['phase']}",
        tests=str(len(gates)),
        failures=str(sum(g["status"] == "fail" for g in gates)),
        errors=str(sum(g["status"] in ("error", "missing", "not_run", "flaky") for g in gates)),
        skipped=str(sum(g["status"] == "not_applicable" for g in gates)),
        time=str(doc["duration_s"]),
        timestamp=doc["started_at"],
    )
    for g in gates:
        case = ET.SubElement(suite, "testcase", classname=f"gates.{g['suite']}", name=g["id"], time="0")
        message = f"observed {g['observed']!s}, threshold {g['threshold']}: {g['reason']}"
        if g["status"] == "fail":
            ET.SubElement(case, "failure", message=message).text = "\n".join(g.get("repro", []))
        elif g["status"] in ("error", "missing", "not_run", "flaky"):
            ET.SubElement(case, "error", message=f"{g['status']}: {message}", type=g["status"])
        elif g["status"] == "not_applicable":
            ET.SubElement(case, "skipped", message=g["reason"])
    root = ET.Element("testsuites", name=f"harness verdict: {doc['verdict']}")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def write_gates_junit(doc: dict[str, Any], path: Path, secrets: list[str]) -> None:
    write_atomic(path, render(redact_data(doc, secrets)))  # data first, then text
