"""TLS checks for an https target: chain valid for the host, not expired, days to expiry >= a threshold
(the guide's "SSL certificates valid"; default 14), and no protocol older than TLS 1.2.

Two handshakes: one verifying (chain + host name, against the system store or a given CA file), one not
verifying, to read the certificate even when it is bad. A third offers only TLS 1.0/1.1 to see whether
the server still accepts them; when this machine's OpenSSL cannot even offer them, that is reported as
not tested, not as passed.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from harness.security.errors import SecurityError
from harness.security.findings import Finding

MODERN = ("TLSv1.2", "TLSv1.3")


class TLSUnreachable(SecurityError):
    """host:port does not answer at all: the TLS check cannot judge anything (not a TLS finding)."""


def ca_file_for(configured: Path | None, target: object) -> Path | None:
    """The CA to verify with: tls_ca_file when set, else the CA of a harness-started https stack
    (Target.ca_file), else None (the system store)."""
    if configured is not None:
        return configured
    stack_ca = getattr(target, "ca_file", None)
    return Path(stack_ca) if stack_ca else None


def plain_http_finding(url: str) -> Finding:
    """A staging or production deployment served without TLS is itself a finding (FAIL, waivable)."""
    host = urlsplit(url)
    return Finding(
        "tls",
        "tls.plain_http",
        "serves plain http; staging/production must use TLS",
        "high",
        "FAIL",
        method="TLS",
        url=url,
        evidence=f"{url} is http://, not https://, and not a loopback address",
        key=f"{host.hostname}:{host.port or 80}|plain-http",
    )


@dataclass(slots=True)
class TLSReport:
    host: str
    port: int
    protocol: str | None = None
    verify_error: str | None = None
    not_after: datetime | None = None
    subject: str = ""
    issuer: str = ""
    old_protocols: list[str] = field(default_factory=list)
    old_protocols_tested: bool = False

    def days_left(self, now: datetime | None = None) -> float | None:
        if self.not_after is None:
            return None
        return (self.not_after - (now or datetime.now(UTC))).total_seconds() / 86400


def _connect(host: str, port: int, ctx: ssl.SSLContext, server_hostname: str, timeout: float) -> ssl.SSLSocket:
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def _old_protocols(host: str, port: int, server_hostname: str, timeout: float) -> tuple[list[str], bool]:
    """([accepted old versions], whether this client could offer them at all)."""
    accepted, tested = [], False
    for name, version in (("TLSv1", ssl.TLSVersion.TLSv1), ("TLSv1.1", ssl.TLSVersion.TLSv1_1)):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        try:
            with warnings.catch_warnings():  # offering a deprecated version is the point of this probe
                warnings.simplefilter("ignore", DeprecationWarning)
                ctx.minimum_version = ctx.maximum_version = version
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except (ValueError, ssl.SSLError):
            continue
        try:
            with _connect(host, port, ctx, server_hostname, timeout) as s:
                tested = True
                if s.version() == name:
                    accepted.append(name)
        except ssl.SSLError as exc:
            # "no protocols available": this OpenSSL cannot offer the version; anything else is the
            # server refusing it, which is what we want to see
            if "NO_PROTOCOLS_AVAILABLE" not in str(exc).upper() and "no protocols" not in str(exc).lower():
                tested = True
        except OSError:
            continue
    return accepted, tested


def inspect(
    host: str,
    port: int,
    *,
    server_hostname: str | None = None,
    cafile: Path | None = None,
    timeout_s: float = 5.0,
    check_old_protocols: bool = True,
) -> TLSReport:
    """Handshake with host:port and describe what was served; SecurityError when no TLS handshake succeeds."""
    from cryptography import x509

    name = server_hostname or host
    report = TLSReport(host=name, port=port)
    verifying = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    handshake_error = None
    try:
        with _connect(host, port, verifying, name, timeout_s) as s:
            report.protocol = s.version()
    except ssl.SSLCertVerificationError as exc:
        report.verify_error = exc.verify_message or str(exc)
    except ssl.SSLError as exc:  # e.g. the server offers only protocols this client refuses
        handshake_error = str(exc.reason or exc)
    except OSError as exc:
        raise TLSUnreachable(f"TLS: {host}:{port} does not answer ({exc.strerror or exc}); is the target up?") from None
    lax = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    lax.check_hostname, lax.verify_mode = False, ssl.CERT_NONE
    try:  # let the unverified handshake reach old protocols too, so they can be named
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            lax.minimum_version = ssl.TLSVersion.TLSv1
        lax.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pass
    try:
        with _connect(host, port, lax, name, timeout_s) as s:
            report.protocol = report.protocol or s.version()
            der = s.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError) as exc:
        first = f"{handshake_error}; " if handshake_error else ""
        raise SecurityError(
            f"TLS: no handshake with {host}:{port} succeeded ({first}{exc}); is it an https endpoint?"
        ) from None
    if handshake_error and report.protocol in MODERN:
        report.verify_error = f"handshake failed: {handshake_error}"
    if der:
        cert = x509.load_der_x509_certificate(der)
        report.not_after = cert.not_valid_after_utc
        report.subject = cert.subject.rfc4514_string()
        report.issuer = cert.issuer.rfc4514_string()
    if check_old_protocols:
        report.old_protocols, report.old_protocols_tested = _old_protocols(host, port, name, timeout_s)
    return report


def findings(report: TLSReport, *, min_days: float, url: str, now: datetime | None = None) -> list[Finding]:
    """FAIL findings for an expired or soon-expiring certificate, a broken chain, or an old protocol."""
    out = []
    where = {"method": "TLS", "url": url}
    days = report.days_left(now)
    expired = days is not None and days < 0
    if expired:
        assert report.not_after is not None
        out.append(
            Finding(
                "tls",
                "tls.expired",
                "certificate has expired",
                "critical",
                "FAIL",
                evidence=f"notAfter {report.not_after.isoformat()} ({-days:.0f} days ago); subject {report.subject}",
                key=f"{report.host}:{report.port}",
                **where,
            )
        )
    elif days is not None and days < min_days:
        out.append(
            Finding(
                "tls",
                "tls.expiry",
                f"certificate expires in {days:.1f} days (< {min_days:g})",
                "high",
                "FAIL",
                evidence=f"notAfter {report.not_after.isoformat() if report.not_after else '?'}; {report.subject}",
                key=f"{report.host}:{report.port}",
                **where,
            )
        )
    if report.verify_error and not (expired and "expired" in report.verify_error.lower()):
        out.append(
            Finding(
                "tls",
                "tls.chain",
                f"certificate not valid for {report.host}",
                "high",
                "FAIL",
                evidence=f"{report.verify_error}; issuer {report.issuer}",
                key=f"{report.host}:{report.port}",
                **where,
            )
        )
    if report.protocol and report.protocol not in MODERN:
        out.append(
            Finding(
                "tls",
                "tls.protocol",
                f"negotiated {report.protocol}, older than TLS 1.2",
                "high",
                "FAIL",
                evidence=f"negotiated {report.protocol}",
                key=f"{report.host}:{report.port}|negotiated",
                **where,
            )
        )
    for old in report.old_protocols:
        out.append(
            Finding(
                "tls",
                "tls.protocol",
                f"accepts {old} (older than TLS 1.2)",
                "medium",
                "FAIL",
                evidence=f"a handshake offering only {old} succeeded",
                key=f"{report.host}:{report.port}|{old}",
                **where,
            )
        )
    return out
