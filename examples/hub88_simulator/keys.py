"""RSA key pairs and `X-Hub88-Signature` values, as the simulated Hub88 holds them.

The simulator signs and verifies on its own rather than through the adapter,
so a fault in the adapter's signing shows up as a refusal here.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGNATURE_HEADER = "X-Hub88-Signature"


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An RSA private key and its public half, both as PEM text on demand."""

    private_key: rsa.RSAPrivateKey

    @classmethod
    def generate(cls, bits: int = 2048) -> KeyPair:
        """Make a fresh key pair; nothing of it is written anywhere."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=bits))

    @classmethod
    def from_private_pem(cls, pem: str) -> KeyPair:
        """Load an unencrypted RSA private key in PEM."""
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("not an RSA private key")
        return cls(key)

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

    def sign(self, body: bytes) -> str:
        """Return the base64 RSA-SHA256 (PKCS#1 v1.5) signature of `body`."""
        signature = self.private_key.sign(body, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(signature).decode("ascii")


def public_key(pem: str) -> rsa.RSAPublicKey:
    """Load an RSA public key in PEM."""
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def verifies(key: rsa.RSAPublicKey, body: bytes, signature: str | None) -> bool:
    """Return whether `signature` is a valid signature of `body` under `key`."""
    if not signature:
        return False
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True
