"""A service profile in a few lines: what the harness will call, how it authenticates, what does not apply."""

from __future__ import annotations

from harness.service.profile import BUILTIN_SMOKE, ServiceProfile

NEEDS = {  # what the checks need -> the gates that are N/A without it
    "websocket": "smoke.websocket, contract.websocket, load.ws_connect_ratio",
    "metrics": "smoke.metrics, contract.metrics",
    "openapi": "contract.openapi, contract.openapi.stateful, contract.breaking_changes",
}


def _identity(ident) -> str:  # noqa: ANN001 - Identity or Auth
    if ident.login is not None:
        login = ident.login
        secrets = ", ".join(login.env_names()) or "none"
        return f"login {login.method} {login.path} (token at {login.token_field!r}; secrets from {secrets})"
    return f"token from ${ident.token_env}" if ident.token_env else "no token"


def describe_profile(profile: ServiceProfile) -> str:
    d = profile.data
    lines = [profile.describe()]
    for name in ("health", "openapi", "metrics", "websocket"):
        value = getattr(d.paths, name)
        lost = f"  -> N/A: {NEEDS[name]}" if not value and name in NEEDS else ""
        lines.append(f"  paths.{name:<10} {value or '(none)'}{lost}")
    for key in ("source", "openapi_baseline", "alert_rules", "alert_tests", "dashboard"):
        path = profile.file(key)
        state = "" if path is None or path.exists() else "  (does not exist)"
        lines.append(f"  files.{key:<17} {path or '(none)'}{state}")
    a = d.auth
    carried = {"header": f"header {a.name}: {a.prefix}<token>", "query": f"query ?{a.name}=<token>"}
    carried |= {"cookie": f"cookie {a.name}=<token>", "none": "no credentials"}
    lines.append(f"  auth            {carried[a.scheme]}; {_identity(a.identity)}")
    if a.low_privilege is not None:
        lines.append(f"  low privilege   {_identity(a.low_privilege)}")
    ops = d.operations
    for key in ("public", "optional_auth", "admin_only", "unsafe_allowed", "exclude_methods", "exclude_paths"):
        values = getattr(ops, key)
        if values:
            lines.append(f"  operations.{key:<16} {', '.join(values)}")
    if ops.exclude_tags:
        lines.append(f"  operations.exclude_tags       {', '.join(ops.exclude_tags)}")
    checks = [f"smoke.{c.name} ({c.method} {c.path} -> {c.status})" for c in d.smoke]
    checks += [f"smoke.{b} (built in)" for b in d.builtin_smoke]
    lines.append(f"  smoke           {'; '.join(checks) or '(none)'}")
    off = [b for b in BUILTIN_SMOKE if b not in d.builtin_smoke]
    if off:
        lines.append(f"                  N/A: {', '.join('smoke.' + b for b in off)}")
    traffic = d.load.traffic
    if traffic == "endpoints":
        traffic += ": " + ", ".join(f"{e.method} {e.path} x{e.weight}" for e in d.load.endpoints)
    lines.append(f"  load traffic    {traffic}")
    lines.append(f"  stateful seed   {d.contract.stateful_seed}")
    lines.append(
        "  on a target the harness did not start: GET/HEAD/OPTIONS only, unless --allow-unsafe or unsafe_allowed"
    )
    return "\n".join(lines)
