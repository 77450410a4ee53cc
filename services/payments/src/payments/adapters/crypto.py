"""SHA256withRSA, AES-256-GCM and X.509 checks shared by the gateway adapters."""

from __future__ import annotations

import base64
import binascii
import functools
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class VerificationError(Exception):
    """A notification or response that is not authentic. The message names no person."""


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("an RSA private key is required")
    return key


def load_public_key(pem_or_base64: bytes) -> rsa.RSAPublicKey:
    """A PEM public key, a PEM certificate, or the bare base64 key Alipay's console shows."""
    text = pem_or_base64.strip()
    key: object
    if b"BEGIN CERTIFICATE" in text:
        key = x509.load_pem_x509_certificate(text).public_key()
    elif b"BEGIN" in text:
        key = serialization.load_pem_public_key(text)
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("an RSA public key is required")
    return key


#: Hashing and padding choices are stateless: built once, not per signature checked.
_PKCS1V15 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def sign_sha256_rsa(key: rsa.RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64."""
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def verify_sha256_rsa(key: rsa.RSAPublicKey, message: bytes, signature_b64: str) -> None:
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        key.verify(signature, message, _PKCS1V15, _SHA256)
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise VerificationError("signature does not verify") from exc


@functools.lru_cache(maxsize=8)
def _aead(key: bytes) -> AESGCM:
    """The cipher of a key (the APIv3 key, one per deployment): setting one up costs more than
    decrypting a notification with it, so each is built once."""
    return AESGCM(key)


def aes_gcm_decrypt(key: bytes, nonce: str, associated_data: str, ciphertext_b64: str) -> bytes:
    """WeChat Pay's AEAD_AES_256_GCM: the ciphertext is base64 of data + 16-byte tag."""
    try:
        return _aead(key).decrypt(
            nonce.encode(), base64.b64decode(ciphertext_b64), associated_data.encode()
        )
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise VerificationError("resource does not decrypt with the APIv3 key") from exc


def verify_chain(
    cert: x509.Certificate,
    intermediate: x509.Certificate,
    root: x509.Certificate,
    at: datetime,
) -> None:
    """``cert`` is issued by ``intermediate``, issued by ``root``, all valid ``at``."""
    for child, parent in ((cert, intermediate), (intermediate, root), (root, root)):
        if child.issuer != parent.subject:
            raise VerificationError("certificate is not issued by the configured chain")
        try:
            child.verify_directly_issued_by(parent)
        except (InvalidSignature, ValueError, TypeError) as exc:
            raise VerificationError("certificate chain signature does not verify") from exc
        if not child.not_valid_before_utc <= at <= child.not_valid_after_utc:
            raise VerificationError("certificate is not valid at this time")


def certificate_serial_hex(cert: x509.Certificate) -> str:
    """The serial as WeChat Pay writes it in Wechatpay-Serial: upper-case hex."""
    return format(cert.serial_number, "X")
