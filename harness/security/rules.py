"""zap-baseline rules files, read the way zap-baseline.py reads them (docker/zap_common.py load_config).

    <id>\\t<IGNORE|INFO|WARN|FAIL>\\t(<name>)[\\t<custom message>]
    <id>[,<id>...]\\tOUTOFSCOPE\\t<url regex>          ('*' as id: every rule)

Lines starting with '#' and blank lines are skipped; a line with fewer than three tab-separated fields
is an error (zap-baseline exits 3 on it). Meaning, as in zap-baseline: FAIL blocks (the gate counts
it), WARN is reported, INFO is informational, IGNORE (and PASS) drops the alert. A rule not listed is
WARN. An id may be a sub-rule (10055-7), matched against the alert's alertRef first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from harness.security.errors import RulesFileError

ZAP_LEVELS = ("PASS", "IGNORE", "INFO", "WARN", "FAIL")
DEFAULT_LEVEL = "WARN"
DEFAULT_RULES = "zap-baseline.rules"  # committed next to this module


@dataclass(slots=True)
class Rules:
    """A parsed rules file."""

    levels: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    out_of_scope: dict[str, list[re.Pattern[str]]] = field(default_factory=dict)
    source: str = "(none)"

    def level(self, plugin_id: str, alert_ref: str | None = None) -> str:
        """The configured level of an alert: its sub-rule (alertRef) if listed, else its rule, else WARN."""
        if alert_ref and alert_ref != plugin_id and alert_ref in self.levels:
            return self.levels[alert_ref]
        return self.levels.get(plugin_id, DEFAULT_LEVEL)

    def in_scope(self, plugin_id: str, url: str, alert_ref: str | None = None) -> bool:
        """False when an OUTOFSCOPE line for '*', the rule or its sub-rule matches the URL (re.match)."""
        for key in ("*", plugin_id, alert_ref):
            if key and any(p.match(url) for p in self.out_of_scope.get(key, [])):
                return False
        return True

    def dropped(self, plugin_id: str, alert_ref: str | None = None) -> bool:
        return self.level(plugin_id, alert_ref) in ("IGNORE", "PASS")


def parse_rules(text: str, where: str) -> Rules:
    """Parse a rules file's text; RulesFileError names the line and what is wrong with it."""
    rules = Rules(source=where)
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if line.startswith("#") or not line.strip():
            continue
        if line.count("\t") < 2:
            raise RulesFileError(
                f"{where}:{number}: expected 3 tab-separated fields (<id>\\t<level>\\t(<name>)), "
                f"got {line.strip()[:60]!r}; fix the line (zap-baseline -g writes a template)"
            )
        key, level, rest = line.rstrip().split("\t", 2)
        key, level = key.strip(), level.strip()
        if level == "OUTOFSCOPE":
            try:
                pattern = re.compile(rest.strip())
            except re.error as exc:
                raise RulesFileError(
                    f"{where}:{number}: OUTOFSCOPE regex {rest.strip()!r} is invalid ({exc})"
                ) from None
            for plugin_id in key.split(","):
                rules.out_of_scope.setdefault(plugin_id.strip(), []).append(pattern)
            continue
        if level not in ZAP_LEVELS:
            raise RulesFileError(f"{where}:{number}: level {level!r} is not one of {', '.join(ZAP_LEVELS)}")
        if not re.fullmatch(r"\d+(-\d+)?", key):
            raise RulesFileError(f"{where}:{number}: rule id {key!r} is not a ZAP plugin id (e.g. 10038 or 10055-7)")
        rules.levels[key] = level
        rules.messages[key] = rest.split("\t", 1)[1].strip() if "\t" in rest else ""
    return rules


def load_rules(path: Path | None) -> Rules:
    """The rules file at path, or the committed default (harness/security/zap-baseline.rules)."""
    if path is None:
        text = resources.files("harness.security").joinpath(DEFAULT_RULES).read_text()
        return parse_rules(text, f"harness/security/{DEFAULT_RULES}")
    try:
        text = path.read_text()
    except OSError as exc:
        raise RulesFileError(
            f"rules file {path} cannot be read ({exc.strerror}); fix [tool.harness.security] rules_file"
        ) from None
    return parse_rules(text, str(path))
