"""WeChat message push (服务器配置): signatures and the safe mode's encryption.

- ``signature`` = SHA-1 hex of the sorted, concatenated ``[token, timestamp, nonce]``
  (every push and the GET verification carry it);
- safe mode (``encrypt_type=aes``): ``msg_signature`` = SHA-1 of the sorted
  ``[token, timestamp, nonce, Encrypt]``; ``Encrypt`` is base64 of AES-256-CBC with the key
  ``base64(EncodingAESKey + "=")`` (32 bytes) and the key's first 16 bytes as IV, over
  ``random(16) + len(msg) as 4 bytes big-endian + msg + appid``, PKCS#7-padded to 32-byte
  blocks (WeChat's block, not AES's 16).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32


class PushRefused(ValueError):
    """A push that is not WeChat's: bad signature, undecryptable, or for another app."""


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def verify(expected: str, *parts: str) -> bool:
    return bool(expected) and hmac.compare_digest(signature(*parts), expected.lower())


class MessageCrypto:
    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must be 43 characters (a 32-byte key)")
        self._token, self._key, self._app_id = token, key, app_id

    def decrypt(self, encrypted: str, *, msg_signature: str, timestamp: str, nonce: str) -> str:
        if not verify(msg_signature, self._token, timestamp, nonce, encrypted):
            raise PushRefused("bad msg_signature")
        try:
            data = base64.b64decode(encrypted, validate=True)
        except binascii.Error as exc:
            raise PushRefused("Encrypt is not base64") from exc
        if not data or len(data) % 16:
            raise PushRefused("Encrypt is not whole AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise PushRefused("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise PushRefused("truncated message")
        (length,) = struct.unpack(">I", content[:4])
        message, receiver = content[4 : 4 + length], content[4 + length :]
        if len(message) != length or receiver.decode(errors="replace") != self._app_id:
            raise PushRefused("message is not for this app")
        return message.decode()
