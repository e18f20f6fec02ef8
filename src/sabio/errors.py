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
"""

from __future__ import annotations


class SabioError(Exception):
    """Base of every deliberate Sabio error; the message is for the user."""


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
        super().__init__(message)
        self.full = full


class TooManyAttemptsError(SabioError):
    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
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
