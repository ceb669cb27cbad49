"""Trustly's signatures: RSA-SHA1 over the method, the uuid and the serialized data.

Every JSON-RPC message either side sends is signed with RSASSA-PKCS1-v1_5 and
SHA-1 over `method + uuid + serialize(data)`, encoded in standard base64. The
merchant signs its calls and its notification replies with its own private
key; Trustly signs its answers and its notifications with its key, which the
merchant verifies with Trustly's public key.

`serialize` follows Trustly's published rule and its test vectors: an object
gives each key in code-point order followed by its serialized value, an array
its serialized elements in order, and a scalar its text. A JSON null gives
the empty string, as in Trustly's Java and Python clients; a boolean gives
its JSON text (`true`, `false`), as in the Java client. A JSON number gives
its text, so numbers are parsed as `Decimal` to keep it (`20.00` stays
`20.00`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from decimal import Decimal

from cryptography.exceptions import InvalidSignature as _Mismatch
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MIN_KEY_BITS = 2048
_MAX_SIGNATURE_CHARS = 2048
_MAX_DEPTH = 32


def serialize(data: object) -> str:
    """Return the text Trustly signs for `data`, a JSON value."""
    return "".join(_parts(data, 0))


def _parts(data: object, depth: int) -> list[str]:
    if depth > _MAX_DEPTH:
        raise ValueError("data is nested too deeply to sign")
    if isinstance(data, Mapping):
        parts: list[str] = []
        for key in sorted(data):
            if not isinstance(key, str):
                raise ValueError("object keys must be strings")
            parts.append(key)
            parts.extend(_parts(data[key], depth + 1))
        return parts
    if isinstance(data, Sequence) and not isinstance(data, str):
        return [part for item in data for part in _parts(item, depth + 1)]

    return [_scalar(data)]


def _scalar(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    # A binary float has no single text: the JSON it came from is lost.
    raise ValueError(f"cannot sign a {type(value).__name__}")


def plaintext(method: str, uuid: str, data: object) -> bytes:
    """Return the UTF-8 bytes that are signed for one message."""
    return (method + uuid + serialize(data)).encode("utf-8")


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


def sign(key: rsa.RSAPrivateKey, method: str, uuid: str, data: object) -> str:
    """Return the base64 signature of one message under `key`."""
    signature = key.sign(
        plaintext(method, uuid, data), padding.PKCS1v15(), hashes.SHA1()
    )

    return base64.b64encode(signature).decode("ascii")


def verifies(
    key: rsa.RSAPublicKey, method: str, uuid: str, data: object, signature: object
) -> bool:
    """Return whether `signature` is `key`'s signature of one message.

    A missing, oversized or non-base64 signature never verifies, and neither
    does data that cannot be serialized.
    """
    if not isinstance(signature, str) or not signature:
        return False
    if len(signature) > _MAX_SIGNATURE_CHARS:
        return False
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        signed = plaintext(method, uuid, data)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, signed, padding.PKCS1v15(), hashes.SHA1())
    except _Mismatch:
        return False

    return True
