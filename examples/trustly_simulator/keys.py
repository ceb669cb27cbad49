"""RSA key pairs and Trustly's message signatures, as the simulated Trustly holds them.

The simulator serializes, signs and verifies on its own rather than through
the adapter, so a fault in the adapter's signing shows up as a refusal here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An RSA private key and its public half, both as PEM text on demand."""

    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, bits: int = 2048) -> KeyPair:
        """Make a fresh key pair; nothing of it is written anywhere."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @property
    def private_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    @property
    def public_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM."""
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode("ascii")
        )

    def sign(self, method: str, uuid: str, data: object) -> str:
        """Return the base64 RSA-SHA1 signature of one message."""
        message = signed_text(method, uuid, data)
        signature = self.private_key.sign(message, padding.PKCS1v15(), hashes.SHA1())
        return base64.b64encode(signature).decode("ascii")


def signed_text(method: str, uuid: str, data: object) -> bytes:
    """Return `method + uuid + serialize(data)` as UTF-8, the text Trustly signs."""
    return f"{method}{uuid}{_serialized(data)}".encode()


def _serialized(data: object) -> str:
    if isinstance(data, dict):
        return "".join(f"{key}{_serialized(data[key])}" for key in sorted(data))
    if isinstance(data, list):
        return "".join(_serialized(item) for item in data)
    if data is None:
        return ""
    if data is True or data is False:
        return "true" if data else "false"
    if isinstance(data, str | int | Decimal):
        return str(data)
    raise ValueError(f"cannot serialize a {type(data).__name__}")


def public_key(pem: str) -> rsa.RSAPublicKey:
    """Load an RSA public key in PEM."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def verifies(
    key: rsa.RSAPublicKey, method: str, uuid: str, data: object, signature: object
) -> bool:
    """Return whether `signature` is a valid signature of one message under `key`."""
    if not isinstance(signature, str) or not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        message = signed_text(method, uuid, data)
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA1())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
