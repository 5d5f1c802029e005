"""Throwaway TLS material for a local https stack: a private CA and a server certificate for 127.0.0.1 and
localhost, valid (90 days) or expired (yesterday) on purpose (the `tls_expired` fault)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

HOSTS = ("localhost",)
IPS = ("127.0.0.1",)


@dataclass(frozen=True, slots=True)
class ServerCerts:
    """Where a stack's CA, server certificate and key are (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def make_server_certs(directory: Path, *, expired: bool = False) -> ServerCerts:
    """A CA and a server certificate signed by it, written to directory (key readable by the owner only)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("AI Orchestra harness throwaway CA"))
        .issuer_name(name("AI Orchestra harness throwaway CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    not_after = now - timedelta(days=1) if expired else now + timedelta(days=90)
    names = [x509.DNSName(h) for h in HOSTS] + [x509.IPAddress(ip_address(i)) for i in IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(IPS[0]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - timedelta(days=90))
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = ServerCerts(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.touch(mode=0o600)
    out.key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return out
