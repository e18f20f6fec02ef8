"""How Sabio keeps what signs a person in, without keeping it as it is: a password as an
scrypt hash (``scrypt$n$r$p$salt$hash``, salt and hash in base64), slow on purpose because a
password may be guessable; a session or API token, 32 random bytes, as its SHA-256 digest.
And the rules for user names and passwords. No SQL: the tables are :mod:`sabio.store.users`'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from sabio.errors import ConfigError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
"""scrypt's cost: 32 MiB of memory and some 50 ms per hash (OWASP's 2024 minimum is 2**17
with r 8 at 128 MiB; 2**15 keeps a login cheap for a small server and costs an attacker
the same 32 MiB per guess). A stored hash names its own cost, so it can be raised later."""
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_NAME_CHARS = 64
NAME_SYMBOLS = ".-_@"
TOKEN_PREFIX = "sabio_"
"""API tokens start so, which tells them apart (and lets secret scanners find them)."""

UNKNOWN_USER_HASH = "$".join(
    ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), "A" * 22 + "==", "A" * 43 + "=")
)
"""Checked against when the user name is unknown, so that costs what a wrong password does."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    cost = (str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P))
    return "$".join(("scrypt", *cost, _b64(salt), _b64(digest)))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``encoded`` (made by :func:`hash_password`, at whatever cost) is ``password``'s."""
    scheme, n, r, p, salt, expected = encoded.split("$")
    if scheme != "scrypt":
        raise ValueError(f"not an scrypt password hash: {scheme!r}")
    digest = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    return hmac.compare_digest(digest, base64.b64decode(expected))


def token_digest(token: str) -> str:
    """What is kept of a session or API token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def is_user_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_CHARS and all(
        ch.isalnum() or ch in NAME_SYMBOLS for ch in name
    )


def check_user_name(name: str) -> None:
    if not is_user_name(name):
        raise ConfigError(
            f"{name!r} is not a valid user name: use letters, digits, '.', '-', '_' or '@' "
            f"(1 to {MAX_NAME_CHARS} characters)",
            key="user_name_invalid",
            max=MAX_NAME_CHARS,
        )


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(
            f"a password needs at least {MIN_PASSWORD_CHARS} characters",
            key="password_short",
            min=MIN_PASSWORD_CHARS,
        )
    if len(password) > MAX_PASSWORD_CHARS:
        raise ConfigError(f"a password may have at most {MAX_PASSWORD_CHARS} characters")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 256 * r * (n + p + 2)  # twice what scrypt needs: OpenSSL counts its own too
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=memory,
        dklen=HASH_BYTES,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
