"""The shared gateway crypto: the cipher and hash objects are built once (issue 22), the
checks stay the same: any other key, tag or signature is a VerificationError."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from payments.adapters.crypto import (
    VerificationError,
    aes_gcm_decrypt,
    sign_sha256_rsa,
    verify_sha256_rsa,
)


def _encrypt(key: bytes, nonce: str, associated: str, plain: bytes) -> str:
    return base64.b64encode(
        AESGCM(key).encrypt(nonce.encode(), plain, associated.encode())
    ).decode()


def test_decrypts_with_its_key_only_however_often_the_cipher_is_reused() -> None:
    key, other = os.urandom(32), os.urandom(32)
    sealed = _encrypt(key, "n0nce0123456", "transaction", b'{"a": 1}')
    for _ in range(3):  # the cached cipher gives the same answer every time
        assert aes_gcm_decrypt(key, "n0nce0123456", "transaction", sealed) == b'{"a": 1}'
        with pytest.raises(VerificationError):
            aes_gcm_decrypt(other, "n0nce0123456", "transaction", sealed)
    with pytest.raises(VerificationError):  # other associated data: the tag does not match
        aes_gcm_decrypt(key, "n0nce0123456", "refund", sealed)
    for _ in range(2):  # a key of the wrong length is refused each time, never cached
        with pytest.raises(VerificationError):
            aes_gcm_decrypt(b"short", "n0nce0123456", "transaction", sealed)


def test_a_signature_verifies_on_the_exact_bytes_only() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = sign_sha256_rsa(key, b"1700000000\nnonce\n{}\n")
    verify_sha256_rsa(key.public_key(), b"1700000000\nnonce\n{}\n", signature)
    with pytest.raises(VerificationError):
        verify_sha256_rsa(key.public_key(), b"1700000000\nnonce\n{} \n", signature)
    with pytest.raises(VerificationError):
        verify_sha256_rsa(key.public_key(), b"1700000000\nnonce\n{}\n", "not base64!")
