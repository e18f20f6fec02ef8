"""Secrets Sabio must keep to use again (a mailbox password), encrypted at rest.

They are encrypted with Fernet (AES-128-CBC with an HMAC, from ``cryptography``) under a
key kept in ``<home>/secret.key``, readable by its owner only, and stored encrypted in
the database; they are never written to config.toml, never returned by the API and never
logged. A copy of the database without the key file reveals nothing; whoever can read
the user's home directory can read the key, as with any password a program must replay.

An export (:mod:`sabio.archive`) carries them *sealed* under a passphrase the user gives
instead (:func:`seal`, :func:`unseal`): Fernet again, with a key derived from the
passphrase by scrypt (2**15, 8, 1: 32 MiB and some 50 ms), so the archive can be opened
on another computer, whose own key encrypts them again.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from sabio.errors import ConfigError

KEY_FILE = "secret.key"
SCRYPT = {"n": 2**15, "r": 8, "p": 1}
SALT_BYTES = 16


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


def _passphrase_key(passphrase: str, salt: bytes, n: int, r: int, p: int) -> Fernet:
    key = hashlib.scrypt(
        passphrase.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * r * (n + p + 2),  # twice what scrypt needs: OpenSSL counts its own too
        dklen=32,
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(data: bytes, passphrase: str) -> tuple[bytes, dict[str, Any]]:
    """``data`` encrypted under ``passphrase``, and what :func:`unseal` needs besides it."""
    if not passphrase:
        raise ConfigError("the passphrase is empty: give one to encrypt the secrets with")
    salt = os.urandom(SALT_BYTES)
    token = _passphrase_key(passphrase, salt, **SCRYPT).encrypt(data)
    return token, {"kdf": "scrypt", **SCRYPT, "salt": base64.b64encode(salt).decode("ascii")}


def unseal(token: bytes, passphrase: str, params: dict[str, Any]) -> bytes:
    """What :func:`seal` encrypted, or a ConfigError when the passphrase is not the one."""
    if params.get("kdf") != "scrypt":
        raise ConfigError(f"the secrets are sealed with {params.get('kdf')!r}, unknown here")
    try:
        salt = base64.b64decode(str(params["salt"]))
        cost = (int(params["n"]), int(params["r"]), int(params["p"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"the secrets' sealing is damaged ({exc})") from exc
    try:
        return _passphrase_key(passphrase, salt, *cost).decrypt(token)
    except InvalidToken:
        raise ConfigError(
            "that passphrase does not open the archive's secrets: give the passphrase it "
            "was exported with"
        ) from None
