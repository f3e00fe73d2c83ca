"""Walk every route of the OpenAPI document with five kinds of caller and check each answer."""

from __future__ import annotations

import re

import pytest

from labkeeper.auth.keys import hash_secret
from labkeeper.auth.models import ApiKey
from labkeeper.db import now_ms
from tests.conftest import Instance

PROJECT = "WALK"
SAMPLE = {"projectKey": PROJECT, "project_key": PROJECT, "key": PROJECT, "env_lang": "python"}
# Code envs live under /admin/ but follow their own global permissions (mayCreateCodeEnvs,
# mayManageCodeEnvs): a user without them may read, never change.
CODE_ENVS = "/admin/code-envs"


def routes(instance: Instance) -> list[tuple[str, str, dict | None, dict]]:
    """(method, path, the smallest body its declaration accepts, its required query
    parameters) of every operation: what the plan lets through to the route's own checks."""
    spec = instance.http.get("/openapi.json").json()
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            if method.upper() in {"GET", "POST", "PUT", "DELETE"}:
                body = None
                if method.upper() in {"POST", "PUT"}:
                    schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                    body = smallest(spec, schema.get("schema", {}))
                query = {
                    p["name"]: "WALKX"
                    for p in operation.get("parameters", [])
                    if p["in"] == "query" and p["required"]
                }
                found.append((method.upper(), path, body, query))
    return sorted(found, key=lambda r: (r[0] == "DELETE", r[1]))  # deletes last


def smallest(spec: dict, schema: dict) -> dict:
    """A JSON object with only the required fields of `schema`, each a plain value of its
    type: a body the plan lets through, so that the answer is the route's own check."""
    if "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    body = {}
    for name in schema.get("required", []):
        field = schema["properties"][name]
        if "enum" in field:
            body[name] = field["enum"][0]
        else:
            plain = {"string": "WALKX", "boolean": False, "integer": 0, "array": [], "object": {}}
            body[name] = plain[field.get("type", "string")]
    return body


def concrete(path: str) -> str:
    path = path.removeprefix("/dip/publicapi")
    return re.sub(r"\{([^}]+)\}", lambda m: SAMPLE.get(m.group(1), "nothing-here"), path)


@pytest.fixture
def callers(instance: Instance) -> dict[str, str | None]:
    assert instance.admin.post("/projects/", json={"projectKey": PROJECT, "name": "Walk"}).status_code < 300
    revoked = instance.make_user("revoked", ["walkers"])
    expired = instance.make_user("expired", ["walkers"])
    plain = instance.make_user("plain", ["walkers"])
    with instance.store.begin() as s:
        s.query(ApiKey).filter(ApiKey.secret_hash == hash_secret(revoked)).delete()
        s.query(ApiKey).filter(ApiKey.secret_hash == hash_secret(expired)).update(
            {"expires_on": now_ms() - 1000}
        )
    return {"none": None, "revoked": revoked, "expired": expired, "plain": plain}


def test_every_route_checks_the_caller(instance: Instance, callers: dict[str, str | None]) -> None:
    table = routes(instance)
    assert len(table) > 20, "the OpenAPI document should list the whole API"
    problems: list[str] = []
    for method, path, body, query in table:
        url = concrete(path)
        for name in ("none", "revoked", "expired"):
            status = instance.client(callers[name]).request(method, url, json=body, params=query).status_code
            if status != 401:
                problems.append(f"{name}: {method} {url} -> {status}, expected 401")
        status = instance.client(callers["plain"]).request(method, url, json=body, params=query).status_code
        if url.startswith("/admin/") and not url.startswith(CODE_ENVS) and status != 403:
            problems.append(f"non-admin: {method} {url} -> {status}, expected 403")
        if url.startswith(CODE_ENVS) and method != "GET" and status not in (403, 404):
            problems.append(f"non-admin: {method} {url} -> {status}, expected 403 (no code env right)")
        if url.startswith(f"/projects/{PROJECT}") and status not in (403, 404):
            problems.append(f"non-admin: {method} {url} -> {status}, expected 403 (no grant)")
        if status >= 500:
            problems.append(f"non-admin: {method} {url} -> {status}")
    for method, path, _, _ in table:
        url = concrete(path)
        body = {} if method in {"POST", "PUT"} else None  # refused by a declaration, or not: never 401/403
        answer = instance.admin.request(method, url, json=body)
        if answer.status_code in (401, 403) or answer.status_code >= 500:
            problems.append(f"admin: {method} {url} -> {answer.status_code} {answer.text[:200]}")
    assert problems == [], "\n".join(problems)
