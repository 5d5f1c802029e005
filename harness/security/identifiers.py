"""Real identifiers for the path parameters of the requests the security checks send.

A probe on /accounts/{account_id} with an invented id proves nothing: many services answer 404 for an
unknown resource before they check the token (or 400/422 for a value of the wrong shape). So each path
parameter gets, in this order:

1. the profile's example for it ([examples] name = "value"),
2. an id a listing returned: the GET of the path before the parameter (/accounts), called with the
   identity's token; the first object of its first list of objects, its field of the parameter's name,
   else `id` (account_id -> id),
3. stateful data: an operation whose OpenAPI links name this operation (create_account -> get_account with
   account_id = $response.body#/id) called with its example body, when the run's scope allows that
   operation (a harness-started target, --allow-unsafe, or operations.unsafe_allowed),
4. else the schema's example (which the probes then judge against their control: most likely unjudged).

A DELETE gets a fresh object from the link each time (`fresh=True`): the control's delete would otherwise
leave the probes an object that no longer exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from harness.security.operations import Operation, ProbeRequest, _resolve, operations, request_for
from harness.service.operations import Scope

Parts = dict[str, dict[str, str]]
_PARAM = re.compile(r"\{([^}]+)\}")
_LINK_VALUE = re.compile(r"^\$(response|request)\.body#(/.*)?$")


def _pointer(doc: Any, pointer: str) -> Any:
    for part in [p for p in pointer.split("/") if p]:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def first_object_list(doc: Any, depth: int = 0) -> list[dict[str, Any]]:
    """The first list of objects in a JSON answer: the answer itself, else a field's value (two levels deep)."""
    if isinstance(doc, list):
        return [x for x in doc if isinstance(x, dict)]
    if isinstance(doc, dict) and depth < 2:
        for value in doc.values():
            if isinstance(value, list) and any(isinstance(x, dict) for x in value):
                return [x for x in value if isinstance(x, dict)]
        for value in doc.values():
            found = first_object_list(value, depth + 1) if isinstance(value, dict) else []
            if found:
                return found
    return []


def id_of(item: Mapping[str, Any], param: str) -> Any:
    """The object's value for a path parameter: its own field of that name, else `id`."""
    for key in (param, "id"):
        value = item.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
            return value
    return None


class Identifiers:
    """Real values for path parameters, per identity (the token that lists or creates them)."""

    def __init__(
        self,
        doc: dict[str, Any],
        base_url: str,
        *,
        examples: Mapping[str, str],
        scope: Scope,
        send: Callable[[ProbeRequest, Parts], requests.Response | None],
    ) -> None:
        self.doc, self.base_url, self.examples, self.scope, self.send = doc, base_url, examples, scope, send
        self._ops = operations(doc)
        self._listed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.sources: dict[str, str] = {}  # "GET /a/{id}": where its identifiers came from (for the report)

    def listing(self, path: str, parts: Parts, *, cached: bool = True) -> list[dict[str, Any]]:
        """The objects the GET of `path` lists for this identity ([] when there is no such GET or no list)."""
        key = (path, repr(sorted(parts["headers"].items())) + repr(parts["params"]) + repr(parts["cookies"]))
        if key not in self._listed or not cached:
            self._listed[key] = []
            op = next((o for o in self._ops if o.method == "GET" and o.path == path), None)
            if op is not None and not self.scope.excluded("GET", path, op.spec.get("tags") or []):
                resp = self.send(request_for(op, self.doc, self.base_url), parts)
                if resp is not None and 200 <= resp.status_code < 300:
                    try:
                        self._listed[key] = first_object_list(resp.json())
                    except ValueError:
                        pass
        return self._listed[key]

    def _from_listing(
        self, op: Operation, name: str, known: dict[str, str], parts: Parts, cached: bool = True
    ) -> str | None:
        prefix = op.path.split("{" + name + "}", 1)[0].rstrip("/")
        if "{" not in prefix:
            items = self.listing(prefix, parts, cached=cached)
        else:  # an outer parameter first: /users/{user_id}/orders/{order_id}
            for outer in _PARAM.findall(prefix):
                if outer not in known:
                    return None
                prefix = prefix.replace("{" + outer + "}", quote(known[outer], safe=""))
            items = self._listing_of_url(prefix, parts)
        for item in items:
            value = id_of(item, name)
            if value is not None:
                return str(value)
        return None

    def _listing_of_url(self, concrete: str, parts: Parts) -> list[dict[str, Any]]:
        """The listing at a concrete path whose template has outer parameters."""
        for o in self._ops:
            if o.method != "GET" or "{" not in o.path:
                continue
            pattern = "^" + _PARAM.sub("[^/]+", re.escape(o.path).replace(r"\{", "{").replace(r"\}", "}")) + "$"
            if re.match(pattern, concrete) and not self.scope.excluded("GET", o.path, o.spec.get("tags") or []):
                resp = self.send(ProbeRequest("GET", self.base_url.rstrip("/") + concrete, None, o.label), parts)
                if resp is not None and 200 <= resp.status_code < 300:
                    try:
                        return first_object_list(resp.json())
                    except ValueError:
                        return []
        return []

    def _from_link(self, op: Operation, name: str, parts: Parts) -> str | None:
        """Call an operation whose OpenAPI links lead to `op` and read the parameter's value from the answer."""
        op_id = op.spec.get("operationId")
        if not op_id:
            return None
        for source in self._ops:
            if "{" in source.path or self.scope.excluded(source.method, source.path, source.spec.get("tags") or []):
                continue
            for raw in (source.spec.get("responses") or {}).values():
                resp_spec = _resolve(raw, self.doc)
                for link in (resp_spec.get("links") or {}).values() if isinstance(resp_spec, dict) else []:
                    link = _resolve(link, self.doc)
                    if not isinstance(link, dict) or link.get("operationId") != op_id:
                        continue
                    m = _LINK_VALUE.match(str((link.get("parameters") or {}).get(name, "")))
                    if not m:
                        continue
                    req = request_for(source, self.doc, self.base_url)
                    resp = self.send(req, parts)
                    if resp is None or not 200 <= resp.status_code < 300:
                        continue
                    try:
                        body = req.json if m.group(1) == "request" else resp.json()
                    except ValueError:
                        continue
                    value = _pointer(body, m.group(2) or "")
                    if isinstance(value, str | int) and not isinstance(value, bool):
                        return str(value)
        return None

    def path_values(self, op: Operation, parts: Parts, *, fresh: bool = False) -> dict[str, str]:
        """{parameter: real value} for the operation's path parameters (those with none are left out)."""
        out: dict[str, str] = {}
        how = []
        for name in _PARAM.findall(op.path):
            value, where = None, ""
            if name in self.examples:
                value, where = str(self.examples[name]), "the profile's [examples]"
            if value is None and not fresh:
                value, where = self._from_listing(op, name, out, parts), "a listing"
            if value is None:
                value, where = self._from_link(op, name, parts), "an OpenAPI link's source operation"
            if value is None and fresh:  # listed again: the last request may have deleted the first object
                value, where = self._from_listing(op, name, out, parts, cached=False), "a listing"
            if value is not None:
                out[name] = value
                how.append(f"{name} from {where}")
            else:
                how.append(f"{name}: no real value (the schema's example)")
        if how:
            self.sources[op.label] = "; ".join(how)
        return out

    def request(self, op: Operation, parts: Parts, *, fresh: bool = False) -> ProbeRequest:
        """request_for() with the real path values filled in."""
        req = request_for(op, self.doc, self.base_url)
        values = self.path_values(op, parts, fresh=fresh)
        if not values:
            return req
        return request_for(op, self.doc, self.base_url, path_values=values)
