"""User accounts: the ``user``, ``session``, ``api_token`` and ``kb_member`` tables are the
store's (:mod:`sabio.store.users`; how passwords and tokens are kept is
:mod:`sabio.store.credentials`); this is their public name for the server and the
``sabio user`` commands.
"""

from sabio.store.credentials import (
    MAX_NAME_CHARS,
    MIN_PASSWORD_CHARS,
    TOKEN_PREFIX,
    check_new_password,
    check_user_name,
    hash_password,
    is_user_name,
    token_digest,
    verify_password,
)
from sabio.store.users import ACCESS_LEVELS, SESSION_SECONDS, ApiToken, Session, User, UserStore

__all__ = [
    "ACCESS_LEVELS",
    "MAX_NAME_CHARS",
    "MIN_PASSWORD_CHARS",
    "SESSION_SECONDS",
    "TOKEN_PREFIX",
    "ApiToken",
    "Session",
    "User",
    "UserStore",
    "check_new_password",
    "check_user_name",
    "hash_password",
    "is_user_name",
    "token_digest",
    "verify_password",
]
