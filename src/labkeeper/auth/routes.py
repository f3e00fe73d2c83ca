"""Users, groups and the caller's own identity (API keys: `key_routes.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from labkeeper.auth import identity_routes, key_routes, service
from labkeeper.auth.bodies import GroupBody, UserCreate, UserUpdate
from labkeeper.names import check_name
from labkeeper.server.deps import Admin, AppConfig, AppStore, Caller, Page
from labkeeper.server.params import DSSBool, flag
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("users and groups")


# Password hashing costs tens of milliseconds: the calls that may hash run off the event loop.


@router.get("/admin/users/")
async def list_users(
    store: AppStore,
    _admin: Admin,
    paging: Page,
    include: Annotated[DSSBool, flag("includeSettings", "Each user's settings documents too")] = False,
) -> Response:
    return json_response(
        service.list_users(store, include_settings=include, limit=paging.limit, offset=paging.offset)
    )


@router.post("/admin/users/")
async def create_user(store: AppStore, config: AppConfig, _admin: Admin, body: UserCreate) -> Response:
    return json_response(service.create_user(store, body.sent(), data_dir=config.data_dir))


@router.get("/admin/users/{login}")
async def get_user(login: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(service.get_user(store, check_name("user login", login)))


# Disabling or deleting a user also waits for their kernels and tasks to stop: off the loop too.


@router.put("/admin/users/{login}")
async def update_user(
    login: str, store: AppStore, config: AppConfig, admin: Admin, body: UserUpdate
) -> Response:
    check_name("user login", login)
    return json_response(
        service.update_user(store, login, body.sent(), data_dir=config.data_dir, caller=admin)
    )


@router.delete("/admin/users/{login}", status_code=204)
async def delete_user(
    login: str,
    store: AppStore,
    admin: Admin,
    allow: Annotated[DSSBool, flag("allowSelfDeletion", "An admin may delete their own user")] = False,
) -> Response:
    login = check_name("user login", login)
    service.delete_user(store, login, caller=admin, allow_self_deletion=allow)
    return empty_response()


@router.get("/current-user")
async def get_current_user(store: AppStore, caller: Caller) -> Response:
    return json_response(service.current_user(store, caller))


@router.put("/current-user")
async def update_current_user(
    store: AppStore, config: AppConfig, caller: Caller, body: UserUpdate
) -> Response:
    return json_response(service.update_current_user(store, caller, body.sent(), data_dir=config.data_dir))


@router.get("/admin/groups/")
async def list_groups(store: AppStore, _admin: Admin, paging: Page) -> Response:
    return json_response(service.list_groups(store, limit=paging.limit, offset=paging.offset))


@router.post("/admin/groups/")
async def create_group(store: AppStore, _admin: Admin, body: GroupBody) -> Response:
    return json_response(service.create_group(store, body.sent()))


@router.get("/admin/groups/{name}")
async def get_group(name: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(service.get_group(store, check_name("group name", name)))


@router.put("/admin/groups/{name}")
async def update_group(name: str, store: AppStore, _admin: Admin, body: GroupBody) -> Response:
    check_name("group name", name)
    return json_response(service.update_group(store, name, body.sent()))


@router.delete("/admin/groups/{name}", status_code=204)
async def delete_group(name: str, store: AppStore, _admin: Admin) -> Response:
    service.delete_group(store, check_name("group name", name))
    return empty_response()


router.routes.extend(key_routes.router.routes)  # one flat list (see server/routing.py)
router.routes.extend(identity_routes.router.routes)
