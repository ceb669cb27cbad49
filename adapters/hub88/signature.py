"""RSA-SHA256 signatures as Hub88 carries them in `X-Hub88-Signature`.

The signature is RSASSA-PKCS1-v1_5 with SHA-256 over the exact body bytes,
encoded in standard base64. Each side signs with its own private key and
verifies with the other's public key.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature as _Mismatch
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-Hub88-Signature"
MIN_KEY_BITS = 2048
_MAX_SIGNATURE_CHARS = 2048


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parse an unencrypted RSA private key in PEM; raise ValueError otherwise."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError("is not an unencrypted PEM private key") from error
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("must be an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"must be an RSA key of at least {MIN_KEY_BITS} bits")

    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """Parse an RSA public key in PEM; raise ValueError otherwise."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError) as error:
        raise ValueError("is not a PEM public key") from error
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("must be an RSA key")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"must be an RSA key of at least {MIN_KEY_BITS} bits")

    return key


def sign(key: rsa.RSAPrivateKey, body: bytes) -> str:
    """Return the base64 RSA-SHA256 signature of `body` under `key`."""
    signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())

    return base64.b64encode(signature).decode("ascii")


def verifies(key: rsa.RSAPublicKey, body: bytes, signature: str | None) -> bool:
    """Return whether `signature` is `key`'s signature of `body`.

    A missing, oversized or non-base64 signature never verifies.
    """
    if not signature or len(signature) > _MAX_SIGNATURE_CHARS:
        return False
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    except _Mismatch:
        return False

    return True
