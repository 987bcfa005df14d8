"""X.509 pieces for mutual TLS: the carrier's CA, its server certificate, device CSRs and certificates.

The reference carrier server is its own CA; a real carrier would plug its PKI
in here. Device certificates carry the device id as common name, which is
how the server knows who is calling.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["DEREGISTER_CONTEXT", "CertificateAuthority", "KeyPair", "cert_sha256", "key_pem", "make_csr", "new_key",
           "rotation_message"]

PEM = serialization.Encoding.PEM


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key: the curve both the CA and the TLS certificates use."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The private key as unencrypted PKCS#8 PEM, the form gRPC's TLS credentials load."""
    return key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def make_csr(key: ec.EllipticCurvePrivateKey, common_name: str = "edge-agent device") -> bytes:
    """A CSR proving possession of ``key``; the CA ignores its subject and names the device itself."""
    csr = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    ).sign(key, hashes.SHA256())
    return csr.public_bytes(PEM)


@dataclass(frozen=True)
class KeyPair:
    """A TLS private key and its certificate, both PEM, as gRPC's credentials take them."""

    key_pem: bytes
    cert_pem: bytes


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CertificateAuthority:
    """The reference carrier's CA: it issues the server's certificate and signs device CSRs."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    @classmethod
    def create(cls, name: str = "edge-agent reference carrier CA", days: int = 3650) -> CertificateAuthority:
        """A new self-signed CA that may sign only end-entity certificates (path length 0)."""
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, key_data: bytes, cert_data: bytes) -> CertificateAuthority:
        """The CA saved as PEM key and certificate, e.g. by a previous ``create``."""
        key = serialization.load_pem_private_key(key_data, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cls(key, x509.load_pem_x509_certificate(cert_data))

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate as PEM, which devices pin as the root of trust for the server."""
        return self.cert.public_bytes(PEM)

    @property
    def key_pem(self) -> bytes:
        """The CA private key as PEM, for saving the CA to disk."""
        return key_pem(self.key)

    def _issue(self, public_key: object, cn: str, usage: x509.ObjectIdentifier, days: int,
               sans: list[x509.GeneralName] | None = None) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject).public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5)).not_valid_after(_now() + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256()).public_bytes(PEM)

    def server_pair(self, hostnames: list[str], days: int = 825) -> KeyPair:
        """A server key and certificate valid for each hostname or IP address; the first is also its common name."""
        key = new_key()
        sans: list[x509.GeneralName] = []
        for h in hostnames:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                sans.append(x509.DNSName(h))
        cert = self._issue(key.public_key(), hostnames[0], ExtendedKeyUsageOID.SERVER_AUTH, days, sans)
        return KeyPair(key_pem(key), cert)

    def sign_device_csr(self, csr_pem: bytes, device_id: str, days: int = 365) -> bytes:
        """Issue a client certificate for ``device_id``; the CSR's own subject is ignored."""
        csr = x509.load_pem_x509_csr(csr_pem)
        if not csr.is_signature_valid:
            raise ValueError("CSR signature does not verify")
        return self._issue(csr.public_key(), device_id, ExtendedKeyUsageOID.CLIENT_AUTH, days)


ROTATE_CONTEXT = b"edge-agent rotate v1\x00"
DEREGISTER_CONTEXT = b"edge-agent deregister v1\x00"


def cert_sha256(pem: bytes) -> str:
    """Fingerprint of a certificate's DER form, however its PEM text is wrapped."""
    cert = x509.load_pem_x509_certificate(pem)
    return cert.fingerprint(hashes.SHA256()).hex()


def rotation_message(device_id: str, new_signing_public_key: bytes, csr_pem: bytes) -> bytes:
    """What both the old and the new signing key sign in a key rotation request."""
    return (ROTATE_CONTEXT + len(device_id).to_bytes(2, "big") + device_id.encode() + new_signing_public_key
            + hashlib.sha256(csr_pem).digest())
