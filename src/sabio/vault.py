"""Secrets Sabio must keep to use again (a mailbox password), encrypted at rest.

They are encrypted with Fernet (AES-128-CBC with an HMAC, from ``cryptography``) under a
key kept in ``<home>/secret.key``, readable by its owner only, and stored encrypted in
the database; they are never written to config.toml, never returned by the API and never
logged. A copy of the database without the key file reveals nothing; whoever can read
the user's home directory can read the key, as with any password a program must replay.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from sabio.errors import ConfigError

KEY_FILE = "secret.key"


class Vault:
    def __init__(self, home: Path) -> None:
        self.path = home / KEY_FILE

    def _fernet(self, *, create: bool) -> Fernet:
        try:
            return Fernet(self.path.read_bytes().strip())
        except FileNotFoundError:
            if not create:
                raise ConfigError(
                    f"{self.path} is missing, so saved passwords cannot be read; set the "
                    "password again (`sabio source remove` and `sabio source add`)"
                ) from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # made by another process meanwhile: use that one
            return self._fernet(create=False)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return Fernet(key)

    def encrypt(self, secret: str) -> bytes:
        return self._fernet(create=True).encrypt(secret.encode())

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet(create=False).decrypt(token).decode()
        except InvalidToken:
            raise ConfigError(
                f"a saved password cannot be read with the key in {self.path} (was the key "
                "replaced?); set the password again"
            ) from None
