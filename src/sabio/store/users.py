"""User accounts, for a server that requires login (the ``auth`` setting): passwords,
browser sessions and API tokens, in the ``user``, ``session`` and ``api_token`` tables
(migration 3), and members' access to knowledge bases (``kb_member``);
:class:`UserStore` reads and writes them (:mod:`sabio.users` is their public name).

Nothing secret is stored as it is: how a password and a token are kept, and the rules for
names and passwords, are :mod:`sabio.store.credentials`. Cookies, CSRF and who may call what
are the server's part (:mod:`sabio.server.access`); the ``sabio user`` commands use this
module too.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sabio.errors import ConfigError, ConflictError, NotFoundError
from sabio.store.connection import ConstraintError, SqlDatabase
from sabio.store.credentials import (
    TOKEN_PREFIX,
    UNKNOWN_USER_HASH,
    check_new_password,
    check_user_name,
    hash_password,
    is_user_name,
    token_digest,
    verify_password,
)
from sabio.store.migrations import execute_script, migration

MAX_TOKEN_NAME_CHARS = 100
SESSION_SECONDS = 30 * 24 * 60 * 60
"""A browser stays signed in for 30 days (then it signs in again)."""
ACCESS_LEVELS = ("read", "write")
"""What a member may be given on a knowledge base: ``read`` (ask, search, open its
documents) or ``write`` (also upload and remove documents)."""


@migration(3)
def create_users(db: sqlite3.Connection) -> None:
    """Accounts, sessions, API tokens."""
    execute_script(
        db,
        """
CREATE TABLE IF NOT EXISTS user (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    admin INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS session (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS session_user ON session(user_id);
CREATE TABLE IF NOT EXISTS api_token (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES user(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    last_used_at REAL
);
CREATE INDEX IF NOT EXISTS api_token_user ON api_token(user_id);
CREATE INDEX IF NOT EXISTS chat_user ON chat(user_id);
""",
    )


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    admin: bool
    created_at: float


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's sign-in. Every change it asks for must carry ``csrf_token``."""

    id: int
    user: User
    csrf_token: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token for scripts (``Authorization: Bearer sabio_…``); the token itself is shown
    once, when it is created, and never kept."""

    id: int
    user_id: int
    name: str
    created_at: float
    last_used_at: float | None
    scope: str = ""
    """"" : whatever its user may do; :data:`EXTENSION_SCOPE`: the browser extension's
    routes only (the server's access checks apply it)."""


_USER_COLUMNS = "u.id, u.name, u.admin, u.created_at"
_TOKEN_COLUMNS = "t.id, t.user_id, t.name, t.created_at, t.last_used_at, t.scope"
EXTENSION_SCOPE = "extension"
TOKEN_SCOPES = frozenset({"", EXTENSION_SCOPE})


class UserStore:
    """The accounts of one database (a :class:`~sabio.store.Store`: its connection and
    transactions)."""

    def __init__(self, store: SqlDatabase) -> None:
        self.store = store

    # accounts

    def has_users(self) -> bool:
        return self.store.db.execute('SELECT 1 FROM "user" LIMIT 1').fetchone() is not None

    def create_user(
        self, name: str, password: str, *, admin: bool = False, first: bool = False
    ) -> User:
        """A new account. The first one must be an admin (it manages the others) and takes
        over the chats of the single local user, those without an owner. ``first``: only
        if there is no account yet (the first-run setup; ConflictError otherwise)."""
        check_user_name(name)
        check_new_password(password)
        password_hash = hash_password(password)  # slow: before the transaction
        try:
            with self.store.transaction() as db:
                existing = db.execute('SELECT count(*) FROM "user"').fetchone()[0]
                if existing and first:
                    raise ConflictError(
                        "the first account was already created: sign in, or ask an admin "
                        "for an account"
                    )
                if not existing and not admin:
                    raise ConfigError(
                        f"the first account must be an admin, as it manages the others: "
                        f"create it with `sabio user add {name} --admin`"
                    )
                row = db.execute(
                    'INSERT INTO "user"(name, password_hash, admin, created_at) VALUES (?,?,?,?)'
                    " RETURNING id",
                    (name, password_hash, int(admin), time.time()),
                ).fetchone()
                if not existing:
                    db.execute("UPDATE chat SET user_id=? WHERE user_id IS NULL", (row[0],))
        except ConstraintError as exc:
            raise ConflictError(
                f"there is already a user called {name!r}", key="user_exists", user=name
            ) from exc
        return self.user_by_id(int(row[0]))

    def list_users(self) -> list[User]:
        rows = self.store.db.execute(
            f'SELECT {_USER_COLUMNS} FROM "user" u ORDER BY u.name'
        ).fetchall()
        return [_user(r) for r in rows]

    def get_user(self, name: str) -> User:
        row = self._user_row(name)
        if row is None:
            raise NotFoundError(f"no user called {name!r}; list them with `sabio user list`")
        return _user(row)

    def user_by_id(self, user_id: int) -> User:
        row = self.store.db.execute(
            f'SELECT {_USER_COLUMNS} FROM "user" u WHERE u.id=?', (user_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no user {user_id}; list them with GET /api/v1/auth/users")
        return _user(row)

    def delete_user(self, user_id: int) -> None:
        """Delete an account with its sessions, API tokens and chats; never the last admin."""
        with self.store.transaction() as db:
            row = db.execute('SELECT name, admin FROM "user" WHERE id=?', (user_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"no user {user_id}; list them with GET /api/v1/auth/users")
            admins = db.execute('SELECT count(*) FROM "user" WHERE admin = 1').fetchone()[0]
            if row["admin"] and admins == 1:
                raise ConflictError(
                    f"{row['name']!r} is the last admin: create another admin first "
                    "(`sabio user add NAME --admin`)",
                    key="last_admin",
                    user=row["name"],
                )
            db.execute("DELETE FROM chat WHERE user_id=?", (user_id,))
            db.execute('DELETE FROM "user" WHERE id=?', (user_id,))  # sessions, tokens cascade

    # members' access to knowledge bases (admins have every access: they are not listed)

    def kb_access(self, user_id: int, kb_id: int) -> str | None:
        """``"read"`` or ``"write"``: what the user was given on the knowledge base; None."""
        row = self.store.db.execute(
            "SELECT access FROM kb_member WHERE user_id=? AND kb_id=?", (user_id, kb_id)
        ).fetchone()
        return str(row[0]) if row else None

    def kb_accesses(self, user_id: int) -> dict[int, str]:
        """Knowledge base id → access, for every knowledge base the user was given."""
        rows = self.store.db.execute(
            "SELECT kb_id, access FROM kb_member WHERE user_id=?", (user_id,)
        ).fetchall()
        return {int(r[0]): str(r[1]) for r in rows}

    def kb_members(self, kb_id: int) -> list[tuple[User, str]]:
        """Who was given access to the knowledge base, and which."""
        rows = self.store.db.execute(
            f'SELECT {_USER_COLUMNS}, m.access FROM kb_member m JOIN "user" u ON u.id = m.user_id'
            " WHERE m.kb_id=? ORDER BY u.name",
            (kb_id,),
        ).fetchall()
        return [(_user(r), str(r[4])) for r in rows]

    def set_kb_access(self, user_id: int, kb_id: int, access: str | None) -> None:
        """Give the user ``access`` (``"read"``, ``"write"``) on the knowledge base, or
        take it away (None). An admin needs none: ConflictError."""
        if access not in (None, *ACCESS_LEVELS):
            raise ConfigError(
                f"{access!r} is no access: give 'read' or 'write'", key="access_invalid"
            )
        user = self.user_by_id(user_id)
        if user.admin and access is not None:
            raise ConflictError(
                f"{user.name!r} is an admin and may do everything already",
                key="member_is_admin",
                user=user.name,
            )
        with self.store.transaction() as db:
            if access is None:
                db.execute("DELETE FROM kb_member WHERE user_id=? AND kb_id=?", (user_id, kb_id))
            else:
                db.execute(
                    "INSERT INTO kb_member(kb_id, user_id, access) VALUES (?,?,?)"
                    " ON CONFLICT (kb_id, user_id) DO UPDATE SET access=excluded.access",
                    (kb_id, user_id, access),
                )

    # passwords

    def check_password(self, name: str, password: str) -> User | None:
        """The user, when ``password`` is theirs; else None. An unknown name costs the same
        hashing work as a wrong password, so how long it takes tells nothing."""
        row = self._user_row(name)
        matches = verify_password(password, row["password_hash"] if row else UNKNOWN_USER_HASH)
        return _user(row) if row is not None and matches else None

    def _user_row(self, name: str) -> sqlite3.Row | None:
        """User ``name``'s row, with its password hash; names no user can have are not
        looked for (nor can they trouble SQLite, such as a lone surrogate from JSON)."""
        if not is_user_name(name):
            return None
        row: sqlite3.Row | None = self.store.db.execute(
            f'SELECT {_USER_COLUMNS}, u.password_hash FROM "user" u WHERE lower(u.name)=lower(?)',
            (name,),
        ).fetchone()
        return row

    def set_password(self, user_id: int, password: str, *, keep_session: int | None = None) -> None:
        """A new password; every session of the user ends but ``keep_session`` (the one
        that asked for it). API tokens stay: they are revoked one by one."""
        check_new_password(password)
        password_hash = hash_password(password)
        with self.store.transaction() as db:
            cursor = db.execute(
                'UPDATE "user" SET password_hash=? WHERE id=?', (password_hash, user_id)
            )
            if cursor.rowcount == 0:
                raise NotFoundError(f"no user {user_id}")
            db.execute(
                "DELETE FROM session WHERE user_id=? AND (? IS NULL OR id <> ?)",
                (user_id, keep_session, keep_session),
            )

    # sessions

    def create_session(self, user_id: int) -> tuple[Session, str]:
        """A new sign-in: the session, and its token for the cookie (only its digest is
        kept). Expired sessions are swept out on the way."""
        token = secrets.token_urlsafe(32)
        now = time.time()
        with self.store.transaction() as db:
            db.execute("DELETE FROM session WHERE expires_at <= ?", (now,))
            db.execute(
                "INSERT INTO session(user_id, token_hash, csrf_token, created_at, expires_at)"
                " VALUES (?,?,?,?,?)",
                (
                    user_id,
                    token_digest(token),
                    secrets.token_urlsafe(32),
                    now,
                    now + SESSION_SECONDS,
                ),
            )
        session = self.find_session(token)
        assert session is not None
        return session, token

    def find_session(self, token: str) -> Session | None:
        """The session of a cookie's token, unless it expired or was ended."""
        row = self.store.db.execute(
            f"SELECT s.id, s.csrf_token, s.expires_at, {_USER_COLUMNS} FROM session s"
            ' JOIN "user" u ON u.id = s.user_id WHERE s.token_hash=? AND s.expires_at > ?',
            (token_digest(token), time.time()),
        ).fetchone()
        if row is None:
            return None
        return Session(row[0], _user(row[3:]), row[1], row[2])

    def end_session(self, session_id: int) -> None:
        self.store.db.execute("DELETE FROM session WHERE id=?", (session_id,))

    # API tokens

    def create_token(self, user_id: int, name: str, scope: str = "") -> tuple[ApiToken, str]:
        """A new API token: its record, and the token itself (shown once, never kept).
        ``scope``: one of :data:`TOKEN_SCOPES` (see :class:`ApiToken`)."""
        if scope not in TOKEN_SCOPES:
            raise ConfigError(f"no token scope {scope!r}: use {', '.join(sorted(TOKEN_SCOPES))}")
        name = " ".join(name.split())
        if not name or len(name) > MAX_TOKEN_NAME_CHARS:
            raise ConfigError(
                f"an API token needs a name (at most {MAX_TOKEN_NAME_CHARS} characters) that "
                "says where it is used, e.g. 'backup script'"
            )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            row = db.execute(
                "INSERT INTO api_token(user_id, name, token_hash, created_at, scope)"
                " VALUES (?,?,?,?,?) RETURNING id, created_at",
                (user_id, name, token_digest(token), time.time(), scope),
            ).fetchone()
        return ApiToken(int(row[0]), user_id, name, float(row[1]), None, scope), token

    def list_tokens(self, user_id: int) -> list[ApiToken]:
        rows = self.store.db.execute(
            f"SELECT {_TOKEN_COLUMNS} FROM api_token t WHERE t.user_id=? ORDER BY t.id",
            (user_id,),
        ).fetchall()
        return [ApiToken(*r) for r in rows]

    def delete_token(self, user_id: int, token_id: int) -> None:
        """Revoke one of ``user_id``'s tokens (another user's is not found, as none is)."""
        with self.store.transaction() as db:
            cursor = db.execute(
                "DELETE FROM api_token WHERE id=? AND user_id=?", (token_id, user_id)
            )
        if cursor.rowcount == 0:
            raise NotFoundError(
                f"you have no API token {token_id}; list yours with GET /api/v1/auth/tokens"
            )

    def find_token(self, token: str) -> tuple[User, ApiToken] | None:
        """The user an API token belongs to, with the token's record; None when unknown."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        row = self.store.db.execute(
            f"SELECT {_TOKEN_COLUMNS}, {_USER_COLUMNS} FROM api_token t"
            ' JOIN "user" u ON u.id = t.user_id WHERE t.token_hash=?',
            (token_digest(token),),
        ).fetchone()
        if row is None:
            return None
        return _user(row[6:]), ApiToken(*row[:6])

    def touch_token(self, token_id: int) -> None:
        """Record that the token was used now."""
        self.store.db.execute(
            "UPDATE api_token SET last_used_at=? WHERE id=?", (time.time(), token_id)
        )


def _user(row: sqlite3.Row | tuple[Any, ...]) -> User:
    """A user from the first four columns of ``row`` (:data:`_USER_COLUMNS`)."""
    return User(int(row[0]), str(row[1]), bool(row[2]), float(row[3]))
