"""The instance: what it is, its own logs, and the DSS routes it does not serve."""

from __future__ import annotations

from fastapi import Response

from labkeeper.errors import NotFound
from labkeeper.instance import info, logfiles
from labkeeper.server.answers import folder_stamp, settled
from labkeeper.server.deps import Admin, AppConfig, Caller
from labkeeper.server.responses import json_response
from labkeeper.server.routing import api_router

router = api_router("instance")


@router.get("/instance-info")
async def get_instance_info(config: AppConfig, _caller: Caller) -> Response:
    return json_response(info.instance_info(config.data_dir))


@router.get("/admin/logs/")
async def list_logs(config: AppConfig, _admin: Admin) -> Response:
    stamp = folder_stamp(logfiles.log_dir(config.data_dir))
    return settled(json_response(logfiles.list_logs(config.data_dir)), file_stamp=stamp)


@router.get("/admin/logs/{name}")
async def get_log(name: str, config: AppConfig, _admin: Admin) -> Response:
    stamp = folder_stamp(logfiles.log_dir(config.data_dir))
    return settled(json_response(logfiles.read_log(config.data_dir, name)), file_stamp=stamp)


# Paths the official client calls that would otherwise land on a labkeeper route taking a
# parameter there (found by walking the client's calls against the route table).
UNSUPPORTED = (
    "/admin/code-envs/from-python-preset/{preset}",
    "/admin/code-envs/internal-env/create",
    "/projects/{key}/datasets/templates",
    "/projects/{key}/datasets/managed",
    "/projects/{key}/recipes/templates",
    "/projects/{key}/scenarios/testing-status",
    "/projects/{key}/scenarios/last-test-scenario-runs-report",
    "/projects/{key}/scenarios/last-test-scenario-runs-html-report",
)
unsupported_router = api_router("not supported")


async def not_supported(_caller: Caller) -> Response:
    raise NotFound(
        "Not supported by labkeeper: this DSS API call has no labkeeper equivalent",
        detail="Not supported by labkeeper: it serves a subset of the DSS public API and this call "
        "is not part of it",
    )


for _path in UNSUPPORTED:
    unsupported_router.add_api_route(
        _path, not_supported, methods=["GET", "POST", "PUT", "DELETE", "PATCH"], include_in_schema=False
    )
