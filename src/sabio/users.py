"""User accounts: the ``user``, ``session``, ``api_token`` and ``kb_member`` tables are the
store's (:mod:`sabio.store.users`, where how passwords, sessions and tokens are kept is
told); this is their public name for the server and the ``sabio user`` commands.
"""

from sabio.store.users import (
    ACCESS_LEVELS,
    MAX_NAME_CHARS,
    MIN_PASSWORD_CHARS,
    SESSION_SECONDS,
    TOKEN_PREFIX,
    ApiToken,
    Session,
    User,
    UserStore,
    check_new_password,
    check_user_name,
    hash_password,
    is_user_name,
    token_digest,
    verify_password,
)

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
