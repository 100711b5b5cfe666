"""TLS facts from DER certificates made by the test."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from aioscout._models import TlsInfo
from aioscout.extract.tls import tls_info

START = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2025, 1, 1, 12, 30, tzinfo=UTC)


def _name(cn: str, org: str = "Lab") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _cert(
    subject: x509.Name,
    issuer: x509.Name,
    subject_key: ec.EllipticCurvePrivateKey,
    signing_key: ec.EllipticCurvePrivateKey,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(subject_key.public_key())
        .serial_number(1234)
        .not_valid_before(START)
        .not_valid_after(END)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def test_self_signed_certificate_facts() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.DNSName("lab.test"),
        x509.DNSName("*.lab.test"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    cert = _cert(_name("lab.test"), _name("lab.test"), key, key, sans)
    der = cert.public_bytes(Encoding.DER)
    info = tls_info(der, version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", alpn="h2", now=START)
    assert info.version == "TLSv1.3"
    assert info.cipher == "TLS_AES_128_GCM_SHA256"
    assert info.alpn == "h2"
    assert info.subject == "CN=lab.test,O=Lab"
    assert info.subject_cn == "lab.test"
    assert info.issuer == "CN=lab.test,O=Lab"
    assert info.sans == ["lab.test", "*.lab.test", "127.0.0.1", "::1"]
    assert info.not_before == "2024-01-01T00:00:00Z"
    assert info.not_after == "2025-01-01T12:30:00Z"
    assert info.self_signed is True
    assert info.expired is False
    assert info.fingerprint_sha256 == cert.fingerprint(hashes.SHA256()).hex()
    assert len(info.fingerprint_sha256) == 64


def test_ca_issued_certificate_is_not_self_signed_and_expiry() -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(_name("www.lab.test"), _name("Lab CA", "Lab CA Org"), leaf_key, ca_key)
    der = cert.public_bytes(Encoding.DER)
    info = tls_info(der, version="TLSv1.2", cipher="X", alpn=None, now=END + timedelta(seconds=1))
    assert info.self_signed is False
    assert info.expired is True
    assert info.issuer == "CN=Lab CA,O=Lab CA Org"
    assert info.sans == []
    naive = tls_info(der, version=None, cipher=None, alpn=None, now=datetime(2024, 6, 1))
    assert naive.expired is False


def test_same_name_but_foreign_signature_is_not_self_signed() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(_name("same"), _name("same"), key, other)
    info = tls_info(cert.public_bytes(Encoding.DER), version=None, cipher=None, alpn=None)
    assert info.subject == info.issuer
    assert info.self_signed is False


def test_garbage_or_missing_der_keeps_session_fields_only() -> None:
    for der in (None, b"", b"\x30\x82garbage", bytes(range(256))):
        info = tls_info(der, version="TLSv1.3", cipher="C", alpn="http/1.1")
        assert info == TlsInfo(version="TLSv1.3", cipher="C", alpn="http/1.1")


def test_a_certificate_seen_again_is_not_parsed_again() -> None:
    from aioscout.extract.tls import _cert_facts

    key = ec.generate_private_key(ec.SECP256R1())
    der = _cert(
        _name("again"), _name("again"), key, key, [x509.DNSName("a.lab.test")]
    ).public_bytes(Encoding.DER)
    first = tls_info(der, version=None, cipher=None, alpn=None, now=START)
    first.sans.append("changed by a caller")  # a record's list is its own
    misses = _cert_facts.cache_info().misses
    second = tls_info(der, version=None, cipher=None, alpn=None, now=END + timedelta(days=1))
    assert _cert_facts.cache_info().misses == misses  # remembered, not parsed again
    assert second.sans == ["a.lab.test"] and second.self_signed is True
    assert (first.expired, second.expired) == (False, True)  # judged per call
