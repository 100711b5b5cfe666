"""Certificates for the lab, made at start-up with ``cryptography`` (EC P-256: fast to generate).

:func:`generate_lab_certificates` writes, into one directory:

- ``self-signed``: the certificate the lab's HTTPS server presents, valid for
  ``<origin>``, ``*.<origin>`` and the loopback addresses;
- ``ca`` and ``leaf``: a private CA and a certificate it issued for the same
  names (for ``--ca-file`` / ``--verify``);
- ``expired`` and ``wrong-host``: issued by the same CA, one expired, one for
  another name, so that with the CA trusted each fails for exactly one reason.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CertPair",
    "LabCertificates",
    "generate_lab_certificates",
    "issue_certificate",
    "make_ca",
    "self_signed_certificate",
    "server_context",
    "write_pair",
]

Key = ec.EllipticCurvePrivateKey
_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class CertPair:
    """PEM files of one certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class LabCertificates:
    """Every certificate the lab makes (see the module docstring)."""

    directory: Path
    self_signed: CertPair
    ca: CertPair
    leaf: CertPair
    expired: CertPair
    wrong_host: CertPair


def _key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def _sans(names: Sequence[str], ips: Sequence[str]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    general += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    return x509.SubjectAlternativeName(general)


def _leaf_extensions(
    builder: x509.CertificateBuilder, names: Sequence[str], ips: Sequence[str]
) -> x509.CertificateBuilder:
    return (
        builder.add_extension(_sans(names, ips), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )


def _validity(expired: bool) -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.UTC)
    if expired:
        return now - 30 * _DAY, now - _DAY
    return now - _DAY, now + 365 * _DAY


def self_signed_certificate(
    names: Sequence[str], ips: Sequence[str] = (), *, expired: bool = False
) -> tuple[x509.Certificate, Key]:
    """A self-signed server certificate for ``names`` (DNS SANs) and ``ips`` (IP SANs)."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "lab")])
    start, end = _validity(expired)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    cert = _leaf_extensions(builder, names, ips).sign(key, hashes.SHA256())
    return cert, key


def make_ca(common_name: str = "aioscout lab CA") -> tuple[x509.Certificate, Key]:
    """A private certificate authority valid for a year."""
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start, end = _validity(False)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def issue_certificate(
    ca_cert: x509.Certificate,
    ca_key: Key,
    names: Sequence[str],
    ips: Sequence[str] = (),
    *,
    expired: bool = False,
) -> tuple[x509.Certificate, Key]:
    """A server certificate for ``names``/``ips`` signed by the CA (expired if asked)."""
    key = _key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "lab")])
    start, end = _validity(expired)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
    )
    cert = _leaf_extensions(builder, names, ips).sign(ca_key, hashes.SHA256())
    return cert, key


def write_pair(directory: Path, stem: str, cert: x509.Certificate, key: Key) -> CertPair:
    """Write ``stem.pem`` and ``stem.key`` (mode 0600) into ``directory``."""
    cert_path = directory / f"{stem}.pem"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return CertPair(cert_path, key_path)


def generate_lab_certificates(
    directory: Path | str,
    origin: str = "lab.test",
    ips: Sequence[str] = ("127.0.0.1", "127.0.0.2", "127.0.0.3"),
) -> LabCertificates:
    """Make every lab certificate in ``directory`` (which must exist)."""
    path = Path(directory)
    names = [origin, f"*.{origin}"]
    ca_cert, ca_key = make_ca()
    return LabCertificates(
        directory=path,
        self_signed=write_pair(path, "self-signed", *self_signed_certificate(names, ips)),
        ca=write_pair(path, "ca", ca_cert, ca_key),
        leaf=write_pair(path, "leaf", *issue_certificate(ca_cert, ca_key, names, ips)),
        expired=write_pair(
            path, "expired", *issue_certificate(ca_cert, ca_key, names, ips, expired=True)
        ),
        wrong_host=write_pair(
            path, "wrong-host", *issue_certificate(ca_cert, ca_key, ["wrong.invalid"])
        ),
    )


def server_context(pair: CertPair) -> ssl.SSLContext:
    """A server-side TLS context presenting ``pair`` (TLS 1.2+, ALPN http/1.1)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(pair.cert, pair.key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx
