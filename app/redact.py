"""A logging filter that masks credentials (?token= values, Authorization headers) in server logs."""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    (re.compile(r"(?i)([?&](?:access_)?token=)[^&\s\"']*"), r"\1***"),
    (re.compile(r"(?i)(authorization[\"']?\s*[:=,]\s*[\"']?)(\w+\s+)?[^\s\"',)]+"), r"\1\2***"),
)
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access", "websockets")


def redact(text: str) -> str:
    """The text with token query values and Authorization header credentials replaced by ***."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactTokens(logging.Filter):
    """Formats a record's message once, masked, before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask in place; never drops a record."""
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler's own error path
            return True
        record.msg, record.args = redact(message), None
        return True


def install(names: tuple[str, ...] = SERVER_LOGGERS) -> None:
    """Attach one RedactTokens filter to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
