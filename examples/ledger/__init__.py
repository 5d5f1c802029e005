"""Ledger: a small accounts service, the harness's second example target (see README.md here).

It differs from the reference service on purpose: `Authorization: Token <jwt>` with short-lived login
tokens, role-separated and destructive operations, an OpenAPI document at /api/openapi.json, no
database, no WebSocket, no metrics endpoint.
"""

VERSION = "1.0.0"
