"""Encryption at rest of password variables (Fernet: AES-128-CBC + HMAC-SHA256)."""

from cryptography.fernet import Fernet, InvalidToken


class SecretDecryptionFailed(RuntimeError):
    """The stored secret does not open with the configured key (was the key changed?)."""


class FernetSecretBox:
    def __init__(self, key: str | bytes) -> None:
        self._fernet = Fernet(key)

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str) -> bytes:
        return self._fernet.encrypt(plain.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode()
        except InvalidToken as exc:
            raise SecretDecryptionFailed(
                "a stored password variable cannot be decrypted with ORYX_STUDIO_SECRET_KEY"
            ) from exc
