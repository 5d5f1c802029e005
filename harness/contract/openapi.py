"""OpenAPI conformance with schemathesis 4: load the live document, fuzz one operation, say what broke."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from harness.contract.options import CHECKS, ContractOptions
from harness.errors import HarnessError
from harness.http import AnswerTooLarge, DeadlineSession
from harness.target import Target


class ContractError(HarnessError):
    """The contract suite cannot start: the OpenAPI document is unreachable or malformed."""


def openapi_url(target: Target, opts: ContractOptions) -> str | None:
    """Where the OpenAPI document is: the contract option, else the profile's path on the target (None: the
    service publishes none)."""
    if opts.openapi_url:
        return opts.openapi_url
    return target.url(opts.openapi_path) if opts.openapi_path else None


MAX_DOCUMENT_BYTES = 32 * 1024 * 1024


def _get_within(url: str, deadline_s: float) -> tuple[int, bytes]:
    """GET url and read its whole body within deadline_s end to end (harness.http.DeadlineSession: requests'
    timeout bounds each read only), at most MAX_DOCUMENT_BYTES. requests.Timeout past the deadline."""
    with DeadlineSession(deadline_s, max_bytes=MAX_DOCUMENT_BYTES) as session:
        try:
            resp = session.get(url, timeout=deadline_s)
        except AnswerTooLarge:
            raise ValueError(f"more than {MAX_DOCUMENT_BYTES} bytes") from None
        return resp.status_code, resp.content


def fetch_document(url: str, timeout_s: float) -> dict[str, Any]:
    """GET and parse an OpenAPI document (or read it from a file path); one-line ContractError otherwise."""
    hint = "check the service profile's paths.openapi (or [tool.harness.contract] openapi_url)"
    try:
        if url.startswith(("http://", "https://")):
            status, body = _get_within(url, timeout_s)
            if status != 200:
                raise ContractError(f"OpenAPI document {url} answered HTTP {status}; {hint}")
            doc = json.loads(body)
        else:
            from pathlib import Path

            from harness.jsonfile import read_text

            doc = json.loads(read_text(Path(url), "OpenAPI document", ContractError, missing=f"does not exist; {hint}"))
    except requests.Timeout:
        raise ContractError(
            f"OpenAPI document {url} did not finish answering within {timeout_s:g} s (the whole answer); {hint}"
        ) from None
    except requests.ConnectionError:
        raise ContractError(f"OpenAPI document {url} is unreachable (connection failed); {hint}") from None
    except requests.RequestException as exc:
        raise ContractError(f"OpenAPI document {url} cannot be fetched ({type(exc).__name__}); {hint}") from None
    except OSError as exc:
        raise ContractError(f"OpenAPI document {url} cannot be read ({exc.strerror}); {hint}") from None
    except ValueError as exc:
        raise ContractError(f"OpenAPI document {url} is not valid JSON ({exc}); {hint}") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3.") or "paths" not in doc:
        raise ContractError(f"OpenAPI document {url} is not an OpenAPI 3 document (no 'openapi: 3.x' and 'paths')")
    return doc


def load_schema(doc: dict[str, Any], base_url: str) -> Any:
    """A schemathesis schema for doc, pointed at base_url."""
    import schemathesis

    try:
        schema = schemathesis.openapi.from_dict(doc)
    except Exception as exc:  # noqa: BLE001 - schemathesis raises several loader errors
        raise ContractError(f"OpenAPI document is malformed: {str(exc).splitlines()[0][:200]}") from None
    schema.config.update(base_url=base_url)
    # Keep request values as sent so the curl lines reproduce; the only secret, the token, is redacted
    # from every report by the harness itself (Target.secrets()).
    schema.config.output.sanitization.update(enabled=False)
    return schema


def operations(schema: Any) -> list[Any]:
    """Every operation of the schema; an unresolvable one is a ContractError naming it."""
    ops = []
    for result in schema.get_all_operations():
        try:
            ops.append(result.ok())
        except Exception as exc:  # noqa: BLE001 - schemathesis wraps resolution errors
            raise ContractError(f"OpenAPI operation cannot be resolved: {str(exc).splitlines()[0][:200]}") from None
    return ops


@dataclass(slots=True)
class Finding:
    """One distinct check failure on one operation: what, the answer's status, where in the response schema,
    the offending value, and a curl line that reproduces it."""

    operation: str
    code: str
    title: str
    curl: str
    status: int | None = None
    schema_path: str = ""  # /properties/balance/type
    instance_path: str = ""  # /balance (where in the answer)
    value: str = ""  # the offending value, as JSON, bounded

    def describe(self) -> str:
        """'GET /api/accounts/{account_id}: ST108 Response violates schema: HTTP 200, at /balance the value "12"
        breaks the schema at /properties/balance/type; reproduce: curl -X GET ...'."""
        parts = [f"{self.operation}: {self.code} {self.title}"]
        facts = []
        if self.status is not None:
            facts.append(f"HTTP {self.status}")
        if self.schema_path:
            facts.append(
                f"at {self.instance_path or '/'} the value {self.value} breaks the schema at {self.schema_path}"
            )
        elif self.value:
            facts.append(self.value)
        if facts:
            parts.append(", ".join(facts))
        if self.curl:
            parts.append(f"reproduce: {self.curl}")
        return ": ".join(parts[:2]) + ("; " + "; ".join(parts[2:]) if len(parts) > 2 else "")


Exempt = Callable[[str, str], bool]  # (METHOD, /path template) -> the profile marks it optional-auth or public


def _never(method: str, path: str) -> bool:
    return False


def _check_functions(exempt: Exempt = _never) -> list[Any]:
    """schemathesis' checks; `ignored_auth` passes over the operations `exempt` names (the service profile's
    optional_auth and public operations answer without a token by design)."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    def honouring_profile(check: Any) -> Any:
        def ignored_auth(ctx: Any, response: Any, case: Any) -> bool | None:
            if exempt(case.operation.method.upper(), case.operation.path):
                return None
            return check(ctx, response, case)

        return ignored_auth

    out = []
    for name in CHECKS:
        fn = not_a_server_error if name == "not_a_server_error" else getattr(checks, name)
        out.append(honouring_profile(fn) if name == "ignored_auth" else fn)
    return out


_CURL = re.compile(r"Reproduce with:\s*\n\s*(curl [^\n]+)")
_STATUS = re.compile(r"^\[(\d{3})\] ", re.MULTILINE)


def _pointer(parts: Any) -> str:
    return "/" + "/".join(str(p) for p in parts) if parts else ""


def _statuses(text: str) -> list[int | None]:
    """The answer's status of each failure block (the text before each 'Reproduce with:')."""
    out: list[int | None] = []
    for block in text.split("Reproduce with:")[:-1]:
        found = _STATUS.findall(block)
        out.append(int(found[-1]) if found else None)
    return out


def _flatten(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _flatten(sub)]
    return [exc]


def _is_check_failure(exc: BaseException) -> bool:
    """One of schemathesis' own check failures (a Failure, e.g. ServerError, in a FailureGroup): the product."""
    from schemathesis.core.failures import Failure

    return isinstance(exc, Failure)


def findings_from(exc: BaseException, operation: str) -> list[Finding]:
    """Turn what hypothesis re-raised into one Finding per distinct schemathesis check failure, each with its
    curl line. Anything else in it (a refused connection, a bug in the tool) is not a finding: tool_errors()."""
    text = (
        str(exc)
        if not isinstance(exc, BaseExceptionGroup)
        else "\n".join(str(g) for g in ([exc] + [e for e in exc.exceptions if isinstance(e, BaseExceptionGroup)]))
    )
    curls = _CURL.findall(text)
    statuses = _statuses(text)
    out = []
    for i, leaf in enumerate(x for x in _flatten(exc) if _is_check_failure(x)):
        code = getattr(leaf, "code", None) or type(leaf).__name__
        title = getattr(leaf, "title", None) or str(leaf).splitlines()[0][:200]
        status = getattr(leaf, "status_code", None)
        if not isinstance(status, int):
            status = statuses[min(i, len(statuses) - 1)] if statuses else None
        finding = Finding(
            str(getattr(leaf, "operation", None) or operation) if operation.startswith("stateful") else operation,
            str(code),
            str(title),
            curls[min(i, len(curls) - 1)] if curls else "",
            status=status,
        )
        if hasattr(leaf, "schema_path") and hasattr(leaf, "instance"):
            finding.schema_path = _pointer(getattr(leaf, "schema_path", ()))
            finding.instance_path = _pointer(getattr(leaf, "instance_path", ()))
            try:
                finding.value = json.dumps(leaf.instance)[:120]
            except (TypeError, ValueError):
                finding.value = repr(leaf.instance)[:120]
        out.append(finding)
    return out


def tool_errors(exc: BaseException) -> list[str]:
    """What in exc is not a schemathesis check failure, each named: 'ConnectionError: ...'."""
    out = []
    for leaf in _flatten(exc):
        if not _is_check_failure(leaf):
            first = (str(leaf).strip().splitlines() or [""])[0][:200]
            out.append(f"{type(leaf).__module__}.{type(leaf).__qualname__}: {first}".rstrip(": "))
    return list(dict.fromkeys(out))


@dataclass(slots=True)
class Outcome:
    """What a fuzzing run showed: the product's check failures, what the tool could not judge, and what was
    actually sent (cases for one operation; steps and sequences for the stateful run)."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # not a finding: the tool could not judge
    sent: int = 0
    sequences: int = 0

    def judge(self, exc: BaseException, operation: str) -> None:
        self.findings = findings_from(exc, operation)
        self.errors = tool_errors(exc)


Headers = Callable[[], dict[str, str]]  # the credentials' current headers (a login refreshed when due)


def _no_headers() -> dict[str, str]:
    return {}


def fuzz(
    operation: Any, target: Target, opts: ContractOptions, auth: Headers = _no_headers, exempt: Exempt = _never
) -> Outcome:
    """Generate positive and negative cases for one operation, call the target, run every check (`exempt`:
    the operations whose missing auth is by design, see _check_functions).

    Deterministic for a given seed and max_examples. Outcome.sent counts the cases actually sent."""
    from hypothesis import HealthCheck, given, seed, settings
    from schemathesis import GenerationMode

    checks = _check_functions(exempt)
    headers = auth()
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )
    outcome = Outcome()
    with DeadlineSession(opts.timeout_s) as session:  # each call ends within timeout_s, a trickle included
        transport = {"timeout": opts.timeout_s, "session": session, "headers": dict(headers)}

        @seed(opts.seed)
        @settings(
            max_examples=opts.max_examples,
            deadline=None,
            database=None,
            print_blob=False,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            # case.call_and_validate(), with the call counted: only a case that reached the target counts
            headers.update(auth())  # a token about to expire is refreshed by its source
            response = case.call(session=session, headers=headers, timeout=opts.timeout_s)
            outcome.sent += 1
            case.validate_response(response, checks=checks, headers=headers, transport_kwargs=transport)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - FailureGroup is a BaseExceptionGroup
            outcome.judge(exc, operation.label)
    return outcome


def has_links(schema: Any) -> bool:
    """Whether any response of the document declares OpenAPI links (what the stateful run follows)."""
    return any(
        "links" in r
        for op in operations(schema)
        for r in (op.definition.raw.get("responses") or {}).values()
        if isinstance(r, dict)
    )


def link_target_available(ctx: Any, response: Any, case: Any) -> bool | None:
    """A stateful check: a link followed from a successful answer must not lead to 404. schemathesis'
    own ensure_resource_availability only relates paths that share a prefix; an OpenAPI link says the
    two operations are related whatever their paths (POST /chat/v2/chat -> GET /chat/v2/sessions/{id}/messages)."""
    if response.status_code != 404:
        return None
    recorder = ctx.internals.recorder if ctx.internals is not None else None
    node = recorder.cases.get(case.id) if recorder is not None else None
    if node is None or node.parent_id is None or not node.is_transition_applied:
        return None  # not reached through a link: a 404 for an unknown id is the document's business
    parent = recorder.find_response(case_id=node.parent_id)
    if parent is None or not 200 <= parent.status_code < 300:
        return None
    if _deleted_before(recorder, case):
        return None  # an earlier step of the sequence deleted the resource: 404 is right
    from schemathesis.core.failures import Failure

    raise Failure(
        operation=case.operation.label,
        title="Link target not found",
        message=f"followed an OpenAPI link from a {parent.status_code} answer to {case.operation.label}: 404",
    )


def _deleted_before(recorder: Any, case: Any) -> bool:
    """Whether an earlier step of the sequence deleted this case's resource (a DELETE of the same path that
    succeeded): following a second link to it then rightly finds nothing."""
    path = case.formatted_path
    for other_id, other in recorder.cases.items():
        if other_id == case.id or other.value.method.upper() != "DELETE" or other.value.formatted_path != path:
            continue
        answer = recorder.find_response(case_id=other_id)
        if answer is not None and 200 <= answer.status_code < 300:
            return True
    return False


def stateful(
    schema: Any, target: Target, opts: ContractOptions, auth: Headers = _no_headers, exempt: Exempt = _never
) -> Outcome:
    """Follow the document's OpenAPI links (e.g. chat -> the session's messages) in generated sequences,
    running the same checks on every step. Outcome.sent counts the steps sent, .sequences the scenarios.
    Seeded (the profile's contract.stateful_seed): the same build gives the same sequences.
    Call has_links() first: without links there is nothing to follow."""
    from hypothesis import HealthCheck, seed, settings

    checks = _check_functions(exempt)
    headers = auth()
    outcome = Outcome()
    session = DeadlineSession(opts.timeout_s)  # each step ends within timeout_s, a trickle included

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            outcome.sequences += 1
            super().setup()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            headers.update(auth())
            return {"headers": headers, "timeout": opts.timeout_s, "session": session}

        def after_call(self, response: Any, case: Any) -> None:
            outcome.sent += 1
            super().after_call(response, case)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(
                response,
                checks=[*checks, link_target_available],
                headers=headers,
                transport_kwargs=kwargs,
                recorder=self.recorder,
            )

    seed(opts.stateful_seed)(Machine)  # hypothesis reads the seed from the state machine class
    try:
        Machine.run(
            settings=settings(
                max_examples=max(5, opts.max_examples // 5),
                deadline=None,
                database=None,
                stateful_step_count=6,
                suppress_health_check=list(HealthCheck),
            )
        )
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - FailureGroup is a BaseExceptionGroup
        outcome.judge(exc, "stateful (links)")
    finally:
        session.close()
    return outcome


def describe(findings: list[Finding], limit: int = 3) -> str:
    """One line per distinct failure (operation, code, status, schema path, value, curl), the first `limit`."""
    seen = list(dict.fromkeys(f.describe() for f in findings))
    more = f" (+{len(seen) - limit} more)" if len(seen) > limit else ""
    return " | ".join(seen[:limit]) + more
