"""Facts about a TLS session and its peer certificate, from the DER bytes."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from aioscout._models import TlsInfo

__all__ = ["tls_info"]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attrs:
        return None
    value = attrs[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(ext.value.get_values_for_type(x509.DNSName))
    names.extend(str(ip) for ip in ext.value.get_values_for_type(x509.IPAddress))
    return names


def _self_signed(cert: x509.Certificate) -> bool:
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except Exception:  # unsupported key type, bad signature, ...: not provably self-signed
        return False
    return True


def tls_info(
    der: bytes | None,
    *,
    version: str | None,
    cipher: str | None,
    alpn: str | None,
    now: datetime | None = None,
) -> TlsInfo:
    """Describe a TLS session and its peer certificate.

    Args:
        der: the peer certificate in DER form, or ``None`` when there was none.
        version: the negotiated protocol, e.g. ``"TLSv1.3"``.
        cipher: the negotiated cipher suite name.
        alpn: the negotiated ALPN protocol, e.g. ``"h2"``.
        now: the moment to judge expiry against (default: the current time).

    Returns:
        A :class:`TlsInfo`. Certificate fields are filled when *der* parses;
        garbage or missing DER yields only the session fields. Never raises for
        bad input. Dates are ISO-8601 UTC (``2025-01-31T23:59:59Z``);
        ``self_signed`` means issuer equals subject and the signature verifies
        with the certificate's own key.
    """
    facts = _cert_facts(der) if der else None
    if facts is None:  # none, or a malformed certificate: the session facts alone
        return TlsInfo(version=version, cipher=cipher, alpn=alpn)
    moment = now if now is not None else datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return TlsInfo(
        version=version,
        cipher=cipher,
        alpn=alpn,
        subject=facts.subject,
        subject_cn=facts.subject_cn,
        issuer=facts.issuer,
        sans=list(facts.sans),
        not_before=facts.not_before,
        not_after=_iso(facts.not_after),
        self_signed=facts.self_signed,
        expired=moment > facts.not_after,
        fingerprint_sha256=facts.fingerprint_sha256,
    )


class _CertFacts(NamedTuple):
    subject: str
    subject_cn: str | None
    issuer: str
    sans: tuple[str, ...]
    not_before: str
    not_after: datetime
    self_signed: bool
    fingerprint_sha256: str


@functools.lru_cache(maxsize=512)
def _cert_facts(der: bytes) -> _CertFacts | None:
    """What a certificate says, parsed once per distinct certificate (``None``: malformed).

    Many hosts of a scan present the same certificate (a load balancer's, a
    hosting provider's wildcard, an appliance's default), and checking a
    self-signed one's signature is the dearest part (an ECDSA verification,
    about a tenth of a TLS probe's CPU): the last 512 certificates seen are
    remembered by their exact DER bytes.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
        return _CertFacts(
            subject=cert.subject.rfc4514_string(),
            subject_cn=_common_name(cert.subject),
            issuer=cert.issuer.rfc4514_string(),
            sans=tuple(_sans(cert)),
            not_before=_iso(cert.not_valid_before_utc),
            not_after=cert.not_valid_after_utc,
            self_signed=_self_signed(cert),
            fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(),
        )
    except Exception:  # malformed certificate
        return None
