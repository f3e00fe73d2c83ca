"""Global and personal API keys.

A notebook session's key may list and read keys (masked), nothing more: every route that
creates, changes, deletes or looks up by secret takes `KeyManager` / `KeyAdmin`, which refuse
it, so nothing a session holds outlives it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.exceptions import HTTPException

from labkeeper.auth import key_service
from labkeeper.auth.bodies import GlobalKeyBody, PersonalKeyBody
from labkeeper.auth.principal import Principal
from labkeeper.names import check_name
from labkeeper.server.deps import Admin, AppStore, Caller, Page, admin_principal, current_principal
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("api keys")


async def _key_caller(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    key_service.refuse_session_keys(principal)
    return principal


async def _key_admin(principal: Annotated[Principal, Depends(admin_principal)]) -> Principal:
    key_service.refuse_session_keys(principal)
    return principal


KeyManager = Annotated[Principal, Depends(_key_caller)]
KeyAdmin = Annotated[Principal, Depends(_key_admin)]


def _key_id(value: str) -> str:
    return check_name("API key id", value)


# ---------------------------------------------------------------- global keys


@router.get("/admin/global-api-keys/")
async def list_global_keys(store: AppStore, _admin: Admin, paging: Page) -> Response:
    return json_response(key_service.list_global_keys(store, limit=paging.limit, offset=paging.offset))


@router.post("/admin/global-api-keys/")
async def create_global_key(store: AppStore, admin: KeyAdmin, body: GlobalKeyBody) -> Response:
    return json_response(key_service.create_global_key(store, body.sent(), creator=admin))


@router.get("/admin/global-api-keys/{key_id}")
async def get_global_key(key_id: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(key_service.get_global_key(store, _key_id(key_id)))


@router.put("/admin/global-api-keys/{key_id}")
async def update_global_key(key_id: str, store: AppStore, _admin: KeyAdmin, body: GlobalKeyBody) -> Response:
    _key_id(key_id)
    return json_response(key_service.update_global_key(store, key_id, body.sent()))


@router.delete("/admin/global-api-keys/{key_id}", status_code=204)
async def delete_global_key(key_id: str, store: AppStore, _admin: KeyAdmin) -> Response:
    key_service.delete_global_key(store, _key_id(key_id))
    return empty_response()


def _forget_secret(request: Request) -> None:
    # The audit trail records path parameters as the target: a secret must never get there.
    request.scope["path_params"] = {}


@router.get("/admin/globalAPIKeys/{secret}", deprecated=True)
async def get_global_key_by_secret(
    secret: str, request: Request, store: AppStore, _admin: KeyAdmin
) -> Response:
    _forget_secret(request)
    return json_response(key_service.get_global_key_by_secret(store, secret))


@router.api_route(
    "/admin/globalAPIKeys/{secret}", methods=["POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def refuse_global_key_by_secret(request: Request, _caller: KeyManager) -> Response:
    # Authenticated, so that the refusal is audited like any call (an anonymous one is only
    # counted: server/middleware.py).
    _forget_secret(request)
    raise HTTPException(
        405,
        "Only GET is served on /admin/globalAPIKeys/{secret}; change or delete a "
        "global API key through /admin/global-api-keys/{id}",
    )


# ---------------------------------------------------------------- personal keys


@router.get("/personal-api-keys/")
async def list_own_personal_keys(store: AppStore, caller: Caller, paging: Page) -> Response:
    return json_response(
        key_service.list_personal_keys(store, caller=caller, limit=paging.limit, offset=paging.offset)
    )


@router.post("/personal-api-keys/")
async def create_own_personal_key(store: AppStore, caller: KeyManager, body: PersonalKeyBody) -> Response:
    return json_response(key_service.create_personal_key(store, body.sent(), caller=caller))


@router.get("/personal-api-keys/{key_id}")
async def get_personal_key(key_id: str, store: AppStore, caller: Caller) -> Response:
    return json_response(key_service.get_personal_key(store, _key_id(key_id), caller=caller))


@router.put("/personal-api-keys/{key_id}")
async def update_personal_key(
    key_id: str, store: AppStore, caller: KeyManager, body: PersonalKeyBody
) -> Response:
    _key_id(key_id)
    return json_response(key_service.update_personal_key(store, key_id, body.sent(), caller=caller))


@router.delete("/personal-api-keys/{key_id}", status_code=204)
async def delete_personal_key(key_id: str, store: AppStore, caller: KeyManager) -> Response:
    key_service.delete_personal_key(store, _key_id(key_id), caller=caller)
    return empty_response()


@router.get("/admin/personal-api-keys/")
async def list_all_personal_keys(store: AppStore, _admin: Admin, paging: Page) -> Response:
    return json_response(
        key_service.list_personal_keys(store, caller=None, limit=paging.limit, offset=paging.offset)
    )


@router.post("/admin/personal-api-keys/")
async def create_personal_key_for_user(store: AppStore, admin: KeyAdmin, body: PersonalKeyBody) -> Response:
    return json_response(key_service.create_personal_key(store, body.sent(), caller=admin, for_user=True))
