"""Who a key is, what anyone may read of a user, and users' activity (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Response

from labkeeper.auth import activity, whoami
from labkeeper.names import check_name
from labkeeper.server.answers import settled
from labkeeper.server.deps import Admin, AppConfig, AppStore, Caller
from labkeeper.server.params import DSSBool, flag
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router

router = api_router("users and groups")


@router.get("/auth/info")
async def get_auth_info(
    store: AppStore,
    config: AppConfig,
    caller: Caller,
    with_secrets: Annotated[DSSBool, flag("withSecrets", "The caller's own secrets, decrypted")] = False,
) -> Response:
    answer = json_response(whoami.auth_info(store, config.data_dir, caller, with_secrets=with_secrets))
    return settled(answer, not with_secrets)


@router.get("/users/{login}")
async def get_user_info(login: str, store: AppStore, _caller: Caller) -> Response:
    return json_response(whoami.user_info(store, check_name("user login", login)))


@router.get("/admin/users-activity")
async def list_users_activity(
    store: AppStore,
    _admin: Admin,
    enabled_only: Annotated[DSSBool, flag("enabledUsersOnly", "Leave disabled users out")] = False,
) -> Response:
    return json_response(activity.list_activity(store, enabled_only=enabled_only))


@router.get("/admin/users/{login}/activity")
async def get_user_activity(login: str, store: AppStore, _admin: Admin) -> Response:
    return json_response(activity.user_activity(store, check_name("user login", login)))
