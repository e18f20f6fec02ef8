"""Every error Sabio raises on purpose.

    SabioError                 base: a message that says what happened and what to do
    ├── ConfigError            bad setting, bad config.toml
    ├── NotFoundError          a knowledge base, document or model that does not exist
    ├── ConflictError          a name already taken, an operation that would mix data
    │   └── EmbeddingMismatchError   a knowledge base built with another embedding model
    ├── AuthError              not signed in, or a wrong user name or password
    ├── ForbiddenError         signed in, but not allowed (not an admin, another site)
    │   └── CSRFError          a signed-in browser request without its CSRF token
    ├── SourceError            a watched folder, mailbox or web address cannot be read
    │   └── BlockedAddressError    a URL that resolves to a private, loopback or
    │                              link-local address (not allowed unless asked for)
    ├── StorageError           the data directory is full or cannot be written
    ├── DatabaseBusyError      no connection to PostgreSQL came free in time
    ├── TableError             SQL over a knowledge base's tables refused or failed
    │                          (not one read-only SELECT, another table, too slow)
    ├── TooManyAttemptsError   too many failed sign-ins: try again in ``retry_after`` s
    ├── ModelError             a model backend is unreachable, missing or failed
    │   └── MissingExtraError  an optional dependency is not installed (names the command)
    └── LoadError              a file could not be turned into text
        ├── UnsupportedTypeError   no loader for this kind of file (skipped)
        ├── EmptyDocumentError     the file holds no text at all (skipped)
        ├── NeedsOCRError          a scan: pages without a text layer
        ├── EncryptedError         needs a password (or the password was wrong)
        └── CorruptFileError       damaged, truncated or not what its name says

Third-party exceptions are translated into these at the boundary where they happen
(a loader, a model backend); the CLI prints the message and exits non-zero.

An error a person meets in the web app also carries a ``key``: the stable name of its
message in the interfaces' catalogue (the web app's ``i18n.js``, ``error.<key>``, in
Spanish and English), with the values the message names as ``args``. The server sends
both with the English message (:mod:`sabio.server.errors`); an error without a key is
shown by its kind (not found, conflict…), the message behind "details".
"""

from __future__ import annotations

from typing import Any


class SabioError(Exception):
    """Base of every deliberate Sabio error; the message is for the user. ``key`` and
    ``args``: see the module docstring."""

    def __init__(self, message: str = "", /, *, key: str | None = None, **args: Any) -> None:
        super().__init__(message)
        self.key = key
        self.args_for_key: dict[str, Any] = args


class ConfigError(SabioError):
    pass


class NotFoundError(SabioError):
    pass


class ConflictError(SabioError):
    pass


class EmbeddingMismatchError(ConflictError):
    pass


class AuthError(SabioError):
    pass


class ForbiddenError(SabioError):
    pass


class CSRFError(ForbiddenError):
    pass


class SourceError(SabioError):
    pass


class BlockedAddressError(SourceError):
    pass


class StorageError(SabioError):
    """``full``: no space left; otherwise the data directory cannot be written."""

    def __init__(self, message: str, *, full: bool) -> None:
        super().__init__(message, key="insufficient_storage" if full else "read_only")
        self.full = full


class DatabaseBusyError(SabioError):
    pass


class TableError(SabioError):
    pass


class TooManyAttemptsError(SabioError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, key="too_many_attempts", seconds=retry_after)
        self.retry_after = retry_after


class ModelError(SabioError):
    pass


class MissingExtraError(ModelError):
    pass


class LoadError(SabioError):
    """A file could not be read; ``status`` is what the document list shows."""

    status = "failed"


class UnsupportedTypeError(LoadError):
    status = "skipped"


class EmptyDocumentError(LoadError):
    status = "skipped"


class NeedsOCRError(LoadError):
    status = "needs_ocr"


class EncryptedError(LoadError):
    status = "encrypted"


class CorruptFileError(LoadError):
    status = "failed"
