"""Who may use a knowledge base, under ``/api/v1/kbs/{name}/members`` (admins, with
accounts on): each member's ``read`` or ``write`` access (:mod:`.roles`). Admins have
every access and are not listed."""

from __future__ import annotations

from fastapi import APIRouter, Response

from sabio.server.api import ERRORS, ServicesDep
from sabio.server.auth import need_accounts
from sabio.server.links import API_PREFIX
from sabio.server.schemas import MemberIn, MemberOut, RowId

router = APIRouter(
    prefix=f"{API_PREFIX}/kbs/{{name}}/members", tags=["knowledge bases"], responses=ERRORS
)


@router.get("", summary="Who may use a knowledge base (admins)")
def list_members(name: str, services: ServicesDep) -> list[MemberOut]:
    need_accounts(services)
    reader = services.reader
    members = reader.users.kb_members(reader.get_kb(name).id)
    return [MemberOut(user_id=u.id, name=u.name, access=access) for u, access in members]


@router.put("/{user_id}", summary="Give a member read or write access (admins)")
def set_member(name: str, user_id: RowId, body: MemberIn, services: ServicesDep) -> MemberOut:
    need_accounts(services)
    with services.writing() as writer:
        kb = writer.get_kb(name)
        writer.users.set_kb_access(user_id, kb.id, body.access)
        user = writer.users.user_by_id(user_id)
    return MemberOut(user_id=user.id, name=user.name, access=body.access)


@router.delete("/{user_id}", status_code=204, summary="Take a member's access away (admins)")
def remove_member(name: str, user_id: RowId, services: ServicesDep) -> Response:
    need_accounts(services)
    with services.writing() as writer:
        writer.users.set_kb_access(user_id, writer.get_kb(name).id, None)
    return Response(status_code=204)
