"""Accounts over HTTP, under ``/api/v1/auth``: the first-run setup, login and logout, the
password, API tokens, and for admins the accounts themselves.

These routes work when the server requires login (the ``auth`` setting); ``/status``
answers in every mode. Who may call which route is checked before, by
:mod:`sabio.server.access`; the accounts are kept by :mod:`sabio.users`.

The browser's session is the ``sabio_session`` cookie: HttpOnly (scripts cannot read it),
SameSite=Strict (other sites' requests do not carry it), Secure over https, 30 days. The
first admin is created on the first visit: from this computer freely, from another device
with the one-time setup code ``sabio serve`` prints in its terminal.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from sabio.errors import AuthError, ConfigError, ConflictError, ForbiddenError
from sabio.server.access import (
    SESSION_COOKIE,
    SIGN_IN_FIRST,
    Identity,
    from_this_computer,
    identify,
)
from sabio.server.api import ERRORS, ServicesDep
from sabio.server.schemas import (
    AccountOut,
    AuthStatusOut,
    ErrorOut,
    LoginIn,
    NewTokenOut,
    PasswordIn,
    RowId,
    SetupIn,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
)
from sabio.server.services import Services
from sabio.server.throttle import SignInThrottle
from sabio.service import Sabio
from sabio.store import User
from sabio.users import SESSION_SECONDS

SETUP_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I to mistake: 12 of these are 60 bits, typed from a terminal."""
WRONG_CREDENTIALS = "wrong user name or password"

router = APIRouter(
    prefix="/api/v1/auth",
    tags=["accounts"],
    responses={
        **ERRORS,
        401: {"model": ErrorOut, "description": "Not signed in"},
        403: {"model": ErrorOut, "description": "Not allowed (not an admin, no CSRF token)"},
    },
)


def new_setup_code() -> str:
    """A one-time code for creating the first admin from another device: ``ABCD-EFGH-JKLM``."""
    chars = "".join(secrets.choice(SETUP_CODE_ALPHABET) for _ in range(12))
    return "-".join(chars[i : i + 4] for i in range(0, 12, 4))


def _signed_in(request: Request, services: ServicesDep) -> Identity:
    need_accounts(services)
    identity = identify(request)
    if identity is None:
        raise AuthError(SIGN_IN_FIRST, key="sign_in_first")
    return identity


def _admin(identity: Annotated[Identity, Depends(_signed_in)]) -> Identity:
    if not identity.user.admin:
        raise ForbiddenError("only an admin may manage accounts", key="admin_only")
    return identity


SignedIn = Annotated[Identity, Depends(_signed_in)]
Admin = Annotated[Identity, Depends(_admin)]


@router.get("/status", summary="Whether login is required, and who is signed in")
def status(request: Request, services: ServicesDep) -> AuthStatusOut:
    """Open in every mode: the web app asks it first, to show the page, the login form or
    the first-run setup."""
    return _status(services, identify(request))


@router.post("/setup", status_code=201, summary="Create the first admin and sign in")
def setup(
    body: SetupIn, request: Request, response: Response, services: ServicesDep
) -> AuthStatusOut:
    """Only while there is no account (409 after). From another device it needs the
    setup code that ``sabio serve`` printed in its terminal (403 without)."""
    need_accounts(services)
    if services.reader.users.has_users():
        raise ConflictError(
            "the first account was already created: sign in instead", key="setup_done"
        )
    expected: str = request.app.state.setup_code
    throttle, address = _throttle(request), _address(request)
    if not from_this_computer(request):
        throttle.check_setup(address)
    if not from_this_computer(request) and not _same_code(body.setup_code or "", expected):
        throttle.setup_failed(address)
        raise ForbiddenError(
            "from another device, creating the first account needs the setup code that "
            "`sabio serve` printed in its terminal"
            + (": this one is not it" if body.setup_code else ""),
            key="setup_code_wrong" if body.setup_code else "setup_code_needed",
        )
    with services.writing() as writer:
        user = writer.users.create_user(body.name, body.password, admin=True, first=True)
        identity = _sign_in(writer, user, request, response)
    return _status(services, identity)


@router.post("/login", summary="Sign in: sets the session cookie")
def login(
    body: LoginIn, request: Request, response: Response, services: ServicesDep
) -> AuthStatusOut:
    need_accounts(services)
    throttle, address = _throttle(request), _address(request)
    throttle.check_login(body.name, address)  # before the password is looked at
    user = services.reader.users.check_password(body.name, body.password)
    if user is None:
        throttle.login_failed(body.name, address)
        raise AuthError(WRONG_CREDENTIALS, key="wrong_credentials")
    throttle.login_succeeded(body.name)
    with services.writing() as writer:
        identity = _sign_in(writer, user, request, response)
    return _status(services, identity)


@router.post("/logout", status_code=204, summary="Sign out: ends the session")
def logout(identity: SignedIn, request: Request, services: ServicesDep) -> Response:
    if identity.session is not None:
        with services.writing() as writer:
            writer.users.end_session(identity.session.id)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/password", status_code=204, summary="Change your password")
def change_password(identity: SignedIn, body: PasswordIn, services: ServicesDep) -> Response:
    """Every other session of yours ends (this one stays); API tokens stay."""
    if services.reader.users.check_password(identity.user.name, body.current) is None:
        raise ForbiddenError(
            "the current password is not right: nothing was changed",
            key="wrong_current_password",
        )
    keep = identity.session.id if identity.session else None
    with services.writing() as writer:
        writer.users.set_password(identity.user.id, body.new, keep_session=keep)
    return Response(status_code=204)


# API tokens


@router.get("/tokens", summary="Your API tokens")
def list_tokens(identity: SignedIn, services: ServicesDep) -> list[TokenOut]:
    tokens = services.reader.users.list_tokens(identity.user.id)
    return [TokenOut.model_validate(t) for t in tokens]


@router.post("/tokens", status_code=201, summary="Create an API token (shown once)")
def create_token(identity: SignedIn, body: TokenIn, services: ServicesDep) -> NewTokenOut:
    """For scripts: send it as ``Authorization: Bearer sabio_…``. Only its digest is
    kept, so this answer is the one chance to copy it."""
    with services.writing() as writer:
        record, token = writer.users.create_token(identity.user.id, body.name)
    return NewTokenOut(
        id=record.id,
        name=record.name,
        created_at=record.created_at,
        last_used_at=record.last_used_at,
        scope=record.scope,
        token=token,
    )


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def delete_token(identity: SignedIn, token_id: RowId, services: ServicesDep) -> Response:
    with services.writing() as writer:
        writer.users.delete_token(identity.user.id, token_id)
    return Response(status_code=204)


# accounts (admins)


@router.get("/users", summary="Every account (admins)")
def list_users(identity: Admin, services: ServicesDep) -> list[AccountOut]:
    return [AccountOut.model_validate(u) for u in services.reader.users.list_users()]


@router.post("/users", status_code=201, summary="Create an account (admins)")
def create_user(identity: Admin, body: UserIn, services: ServicesDep) -> AccountOut:
    with services.writing() as writer:
        user = writer.users.create_user(body.name, body.password, admin=body.admin)
    return AccountOut.model_validate(user)


@router.delete("/users/{user_id}", status_code=204, summary="Delete an account (admins)")
def delete_user(identity: Admin, user_id: RowId, services: ServicesDep) -> Response:
    """With its sessions, API tokens and chats. Not your own account, nor the last admin
    (409)."""
    if user_id == identity.user.id:
        raise ConflictError(
            "you cannot delete your own account: another admin can", key="delete_self"
        )
    with services.writing() as writer:
        writer.users.delete_user(user_id)
    return Response(status_code=204)


def _status(services: Services, identity: Identity | None) -> AuthStatusOut:
    auth = services.settings.auth
    return AuthStatusOut(
        auth=auth,
        setup_needed=auth and not services.reader.users.has_users(),
        local=not auth,
        user=UserOut.model_validate(identity.user) if identity else None,
        csrf_token=identity.session.csrf_token if identity and identity.session else None,
    )


def _sign_in(writer: Sabio, user: User, request: Request, response: Response) -> Identity:
    """A new session for ``user``, its token set as the cookie on ``response``."""
    session, token = writer.users.create_session(user.id)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_SECONDS,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return Identity(user, session)


def _throttle(request: Request) -> SignInThrottle:
    throttle = request.app.state.sign_ins
    assert isinstance(throttle, SignInThrottle)
    return throttle


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _same_code(given: str, expected: str) -> bool:
    """The setup code as typed: any case, dashes and spaces or none."""
    typed = "".join(ch for ch in given.upper() if ch not in "- ")
    return hmac.compare_digest(typed.encode(), expected.replace("-", "").encode())


def need_accounts(services: Services) -> None:
    if not services.settings.auth:
        raise ConfigError(
            "accounts are off: this server is for the single user of this computer, without "
            "login; start it with `sabio serve --auth` (or set auth = true in config.toml)",
            key="accounts_off",
        )
