"""Routes of the stored project objects: datasets, recipes, scenarios."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response

from labkeeper.names import check_name
from labkeeper.projects import objects, recipes, scenarios
from labkeeper.server.deps import AppStore, Caller
from labkeeper.server.params import DSSBool, JsonObject, flag
from labkeeper.server.responses import empty_response, json_response
from labkeeper.server.routing import api_router

router = api_router("project objects")


def _dataset(name: str) -> str:
    return check_name("dataset name", name)


def _recipe(name: str) -> str:
    return check_name("recipe name", name)


def _scenario(scenario_id: str) -> str:
    return check_name("scenario id", scenario_id)


# ---- datasets -------------------------------------------------------------------------


@router.get("/projects/{key}/datasets/")
async def list_datasets(
    key: str,
    store: AppStore,
    principal: Caller,
    _foreign: Annotated[DSSBool, flag("foreign", "No shared datasets in labkeeper: nothing to add")] = False,
    tags: Annotated[list[str] | None, Query(description="Only datasets with one of these tags")] = None,
) -> Response:
    wanted = [t for t in tags or () if t]
    return json_response(objects.list_datasets(store, principal=principal, key=key, tags=wanted))


@router.post("/projects/{key}/datasets/")
async def create_dataset(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    return json_response(objects.create_dataset(store, principal=principal, key=key, body=body))


@router.get("/projects/{key}/datasets/{name}")
async def get_dataset(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    return json_response(objects.get_dataset(store, principal=principal, key=key, name=_dataset(name)))


@router.put("/projects/{key}/datasets/{name}")
async def put_dataset(key: str, name: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    return json_response(
        objects.put_dataset(store, principal=principal, key=key, name=_dataset(name), body=body)
    )


@router.delete("/projects/{key}/datasets/{name}", status_code=204)
async def delete_dataset(
    key: str,
    name: str,
    store: AppStore,
    principal: Caller,
    _drop: Annotated[DSSBool, flag("dropData", "Definitions only: there is no data to drop")] = False,
) -> Response:
    objects.delete_object(store, principal=principal, key=key, kind="DATASET", name=_dataset(name))
    return empty_response()


@router.get("/projects/{key}/datasets/{name}/schema")
async def get_dataset_schema(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    doc = objects.get_dataset(store, principal=principal, key=key, name=_dataset(name))
    return json_response(doc.get("schema") or {"columns": []})


@router.put("/projects/{key}/datasets/{name}/schema")
async def put_dataset_schema(
    key: str, name: str, store: AppStore, principal: Caller, body: JsonObject
) -> Response:
    schema = objects.put_dataset_schema(store, principal=principal, key=key, name=_dataset(name), body=body)
    return json_response(schema)


@router.get("/projects/{key}/datasets/{name}/metadata")
async def get_dataset_metadata(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    return json_response(
        objects.get_metadata(store, principal=principal, key=key, kind="DATASET", name=_dataset(name))
    )


@router.put("/projects/{key}/datasets/{name}/metadata")
async def put_dataset_metadata(
    key: str, name: str, store: AppStore, principal: Caller, body: JsonObject
) -> Response:
    return json_response(
        objects.put_metadata(
            store, principal=principal, key=key, kind="DATASET", name=_dataset(name), body=body
        )
    )


# ---- recipes --------------------------------------------------------------------------


@router.get("/projects/{key}/recipes/")
async def list_recipes(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(recipes.list_recipes(store, principal=principal, key=key))


@router.post("/projects/{key}/recipes/")
async def create_recipe(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    return json_response(recipes.create_recipe(store, principal=principal, key=key, body=body))


@router.get("/projects/{key}/recipes/{name}")
async def get_recipe(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    return json_response(recipes.get_recipe(store, principal=principal, key=key, name=_recipe(name)))


@router.put("/projects/{key}/recipes/{name}")
async def put_recipe(key: str, name: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    return json_response(
        recipes.put_recipe(store, principal=principal, key=key, name=_recipe(name), body=body)
    )


@router.delete("/projects/{key}/recipes/{name}", status_code=204)
async def delete_recipe(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    objects.delete_object(store, principal=principal, key=key, kind="RECIPE", name=_recipe(name))
    return empty_response()


@router.get("/projects/{key}/recipes/{name}/metadata")
async def get_recipe_metadata(key: str, name: str, store: AppStore, principal: Caller) -> Response:
    return json_response(
        objects.get_metadata(store, principal=principal, key=key, kind="RECIPE", name=_recipe(name))
    )


@router.put("/projects/{key}/recipes/{name}/metadata")
async def put_recipe_metadata(
    key: str, name: str, store: AppStore, principal: Caller, body: JsonObject
) -> Response:
    return json_response(
        objects.put_metadata(
            store, principal=principal, key=key, kind="RECIPE", name=_recipe(name), body=body
        )
    )


# ---- scenarios ------------------------------------------------------------------------


@router.get("/projects/{key}/scenarios/")
async def list_scenarios(key: str, store: AppStore, principal: Caller) -> Response:
    return json_response(scenarios.list_scenarios(store, principal=principal, key=key))


@router.post("/projects/{key}/scenarios/")
async def create_scenario(key: str, store: AppStore, principal: Caller, body: JsonObject) -> Response:
    return json_response(scenarios.create_scenario(store, principal=principal, key=key, body=body))


@router.get("/projects/{key}/scenarios/{scenario_id}")
async def get_scenario(key: str, scenario_id: str, store: AppStore, principal: Caller) -> Response:
    return json_response(
        scenarios.get_scenario(store, principal=principal, key=key, scenario_id=_scenario(scenario_id))
    )


@router.put("/projects/{key}/scenarios/{scenario_id}")
async def put_scenario(
    key: str, scenario_id: str, store: AppStore, principal: Caller, body: JsonObject
) -> Response:
    return json_response(
        scenarios.put_scenario(
            store, principal=principal, key=key, scenario_id=_scenario(scenario_id), body=body
        )
    )


@router.delete("/projects/{key}/scenarios/{scenario_id}")
async def delete_scenario(key: str, scenario_id: str, store: AppStore, principal: Caller) -> Response:
    scenario_id = _scenario(scenario_id)
    objects.delete_object(store, principal=principal, key=key, kind="SCENARIO", name=scenario_id)
    # The official client reads a JSON body from this call.
    return json_response({"projectKey": key, "id": scenario_id, "deleted": True})


@router.get("/projects/{key}/scenarios/{scenario_id}/light")
async def get_scenario_status(key: str, scenario_id: str, store: AppStore, principal: Caller) -> Response:
    return json_response(
        scenarios.get_status(store, principal=principal, key=key, scenario_id=_scenario(scenario_id))
    )


@router.get("/projects/{key}/scenarios/{scenario_id}/payload")
async def get_scenario_payload(key: str, scenario_id: str, store: AppStore, principal: Caller) -> Response:
    return json_response(
        scenarios.get_payload(store, principal=principal, key=key, scenario_id=_scenario(scenario_id))
    )


@router.put("/projects/{key}/scenarios/{scenario_id}/payload")
async def put_scenario_payload(
    key: str, scenario_id: str, store: AppStore, principal: Caller, body: JsonObject
) -> Response:
    return json_response(
        scenarios.put_payload(
            store, principal=principal, key=key, scenario_id=_scenario(scenario_id), body=body
        )
    )
