"""What a project archive carries, read from the store or from an archive, and the one way a
project is created from it (import and duplicate).

A project's content: its documents (metadata, settings, permissions, variables), its stored
objects (datasets, recipes, scenarios), its SQL notebooks (cells, not run history) and its
Jupyter notebook files. Never secrets: connections, keys, users and run results stay out.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from labkeeper.auth.models import Group, User
from labkeeper.auth.principal import Principal
from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict
from labkeeper.names import check_name, check_project_key, check_text
from labkeeper.notebooks.jupyter import files as notebook_files
from labkeeper.notebooks.jupyter.storage import StoreNotebooks, storage_of
from labkeeper.notebooks.sql.models import SqlNotebook
from labkeeper.projects import documents as docs
from labkeeper.projects.access import get_project_checked
from labkeeper.projects.models import Project, ProjectObject
from labkeeper.projects.recipes import ENV_LANG_OF_TYPE
from labkeeper.server.responses import check_json_depth

KINDS = ("DATASET", "RECIPE", "SCENARIO")
MAX_PAYLOAD_CHARS = 10_000_000
STAGING_PREFIX = ".staging-"


@dataclass
class ProjectContent:
    project: dict[str, Any]  # name, metadata, settings, permissions, variables
    objects: list[dict[str, Any]] = field(default_factory=list)  # {kind, name, type, definition, payload}
    sql_notebooks: list[dict[str, Any]] = field(
        default_factory=list
    )  # {id, name, language, connection, content, tags}
    # (name, file), or (name, reader of its bytes) for notebooks kept in the store
    notebooks: list[tuple[str, Path | Callable[[], bytes]]] = field(default_factory=list)


def from_store(store: Store, data_dir: Path, principal: Principal, key: str) -> ProjectContent:
    key = check_project_key(key)
    with store.read() as s:
        project = get_project_checked(s, principal, key, "READ")
        content = ProjectContent(
            project={
                "projectKey": project.key,
                "name": project.name,
                "metadata": dict(project.metadata_doc or {}),
                "settings": dict(project.settings or {}),
                "permissions": dict(project.permissions or {}),
                "variables": {
                    "standard": project.variables_standard or {},
                    "local": project.variables_local or {},
                },
            }
        )
        for obj in s.scalars(select(ProjectObject).where(ProjectObject.project_key == key)):
            content.objects.append(
                {
                    "kind": obj.kind,
                    "name": obj.name,
                    "type": obj.type,
                    "definition": obj.definition,
                    "payload": obj.payload,
                }
            )
        for nb in s.scalars(select(SqlNotebook).where(SqlNotebook.project_key == key)):
            content.sql_notebooks.append(
                {
                    "id": nb.id,
                    "name": nb.name,
                    "language": nb.language,
                    "connection": nb.connection,
                    "content": nb.content,
                    "tags": nb.tags,
                }
            )
    storage = storage_of(store, data_dir)
    if isinstance(storage, StoreNotebooks):
        content.notebooks = [(name, functools.partial(storage.raw, key, name)) for name in storage.names(key)]
        return content
    folder = notebook_files.notebooks_dir(data_dir, key)
    content.notebooks = [
        (name, folder / (name + notebook_files.SUFFIX)) for name in notebook_files.names(data_dir, key)
    ]
    return content


# ---- checks, for content read from an archive ------------------------------------------


def check_project_doc(doc: object) -> dict[str, Any]:
    doc = docs.require_dict("project.json", doc)
    check_json_depth(doc, "project.json")
    variables = docs.require_dict("project variables", doc.get("variables", {"standard": {}, "local": {}}))
    standard, local = docs.check_variables(variables)
    settings = docs.require_dict("project settings", doc.get("settings") or docs.default_settings())
    return {
        "projectKey": check_project_key(doc.get("projectKey")),
        "name": check_text("project name", doc.get("name"), max_length=200, allow_empty=False),
        "metadata": docs.check_metadata(
            doc.get("metadata") or docs.default_metadata(label=str(doc.get("name")))
        ),
        "settings": docs.check_settings(settings),
        "permissions": docs.check_permissions(
            doc.get("permissions") or {"owner": "unknown", "permissions": []}
        ),
        "variables": {"standard": standard, "local": local},
    }


def check_object(item: object) -> dict[str, Any]:
    item = docs.require_dict("archived object", item)
    kind = item.get("kind")
    if kind not in KINDS:
        raise BadRequest(f"Invalid archived object: kind must be one of {', '.join(KINDS)}, got {kind!r:.40}")
    name = check_name(f"{kind.lower()} name", item.get("name"))
    definition = docs.require_dict(f"definition of {kind.lower()} {name}", item.get("definition"))
    payload = item.get("payload")
    if payload is not None and (not isinstance(payload, str) or len(payload) > MAX_PAYLOAD_CHARS):
        raise BadRequest(
            f"Invalid payload of {kind.lower()} {name}: a string of at most {MAX_PAYLOAD_CHARS} characters"
        )
    kind_type = check_text(f"type of {kind.lower()} {name}", item.get("type") or "", max_length=60)
    if kind == "RECIPE" and not isinstance(definition.get("params", {}), dict):
        raise BadRequest(f"Invalid recipe {name}: params must be an object")
    return {"kind": kind, "name": name, "type": kind_type, "definition": definition, "payload": payload}


def check_sql_notebook(item: object) -> dict[str, Any]:
    item = docs.require_dict("archived SQL notebook", item)
    nb_id = check_name("SQL notebook id", item.get("id"))
    tags = docs.check_tags("SQL notebook tags", item.get("tags"))
    return {
        "id": nb_id,
        "name": check_text("SQL notebook name", item.get("name") or "", max_length=200),
        "language": check_text("SQL notebook language", item.get("language") or "SQL", max_length=20),
        "connection": check_name("SQL notebook connection", item.get("connection")),
        "content": docs.require_dict("SQL notebook content", item.get("content") or {}),
        "tags": tags,
    }


# ---- remapping -------------------------------------------------------------------------


def check_remapping(value: object) -> dict[str, dict[str, str]]:
    """`{connections: [{source, target}], codeEnvs: [...]}` as {kind: {source: target}}."""
    if value is None:
        return {"connections": {}, "codeEnvs": {}}
    value = docs.require_dict("remapping", value)
    out: dict[str, dict[str, str]] = {}
    for kind in ("connections", "codeEnvs"):
        pairs = value.get(kind) or []
        if isinstance(pairs, dict):  # {source: target} is accepted too
            pairs = [{"source": k, "target": v} for k, v in pairs.items()]
        if not isinstance(pairs, list) or len(pairs) > 1000:
            raise BadRequest(f"Invalid remapping.{kind}: a list of at most 1000 {{source, target}} objects")
        out[kind] = {}
        for pair in pairs:
            if not isinstance(pair, dict):
                raise BadRequest(f"Invalid remapping.{kind}: each item is {{source, target}}")
            out[kind][check_name(f"remapping.{kind} source", pair.get("source"))] = check_name(
                f"remapping.{kind} target", pair.get("target")
            )
    return out


_CONNECTION_FIELDS = ("connection", "connectionName")
_ENV_FIELDS = ("envName",)
_KERNEL_PREFIX = "py-dku-venv-"


def remap(value: Any, remapping: dict[str, dict[str, str]]) -> Any:
    """`value` with every connection and code env name named in `remapping` replaced."""
    if isinstance(value, list):
        return [remap(v, remapping) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for k, v in value.items():
        if k in _CONNECTION_FIELDS and isinstance(v, str):
            v = remapping["connections"].get(v, v)
        elif k in _ENV_FIELDS and isinstance(v, str):
            v = remapping["codeEnvs"].get(v, v)
        else:
            v = remap(v, remapping)
        out[k] = v
    return out


def remap_kernel(notebook: dict[str, Any], remapping: dict[str, dict[str, str]]) -> dict[str, Any]:
    spec = (notebook.get("metadata") or {}).get("kernelspec")
    if (
        isinstance(spec, dict)
        and isinstance(spec.get("name"), str)
        and spec["name"].startswith(_KERNEL_PREFIX)
    ):
        env = spec["name"].removeprefix(_KERNEL_PREFIX)
        if env in remapping["codeEnvs"]:
            spec["name"] = _KERNEL_PREFIX + remapping["codeEnvs"][env]
    return notebook


# ---- creating a project -----------------------------------------------------------------


def staging_dir(data_dir: Path, token: str) -> Path:
    return data_dir / "projects" / f"{STAGING_PREFIX}{token}"


def create_from(
    store: Store,
    data_dir: Path,
    principal: Principal,
    content: ProjectContent,
    *,
    key: str,
    name: str,
    remapping: dict[str, dict[str, str]],
    staged: Path,
) -> list[dict[str, str]]:
    """Create project `key` from `content` (owned by the caller), its notebook files already
    written under `staged/jupyter`; the folder moves into place once the rows are committed.
    Answers the messages (grants dropped because their group or user does not exist)."""
    principal.require("mayCreateProjects")
    key = check_project_key(key)
    name = check_text("project name", name, max_length=200, allow_empty=False)
    final = data_dir / "projects" / key
    in_store = isinstance(storage_of(store, data_dir), StoreNotebooks)
    doc = content.project
    messages: list[dict[str, str]] = []
    now = now_ms()
    with store.begin() as s:
        if s.get(Project, key) is not None:
            raise Conflict(f"Project {key} already exists: choose another target project key")
        if final.exists():
            raise Conflict(f"The folder of project {key} is left from an earlier project: remove {final}")
        grants = []
        groups = set(s.scalars(select(Group.name)))
        users = set(s.scalars(select(User.login)))
        for grant in doc["permissions"].get("permissions") or []:
            who, known = (
                (grant.get("group"), groups) if grant.get("group") is not None else (grant.get("user"), users)
            )
            if who in known:
                grants.append(grant)
            else:
                messages.append(
                    {
                        "severity": "WARNING",
                        "message": f"Permission of {who!r} dropped: no such group or user",
                    }
                )
        settings = remap(doc["settings"], remapping)
        metadata = dict(doc["metadata"], label=name)
        project = Project(
            key=key,
            name=name,
            owner=principal.name,
            metadata_doc=metadata,
            settings=settings,
            permissions={"owner": principal.name, "permissions": grants},
            variables_standard=doc["variables"]["standard"],
            variables_local=doc["variables"]["local"],
            created_on=now,
            created_by=principal.name,
            modified_on=now,
            modified_by=principal.name,
            version=1,
            folder_id="ROOT",
            python_env=docs.explicit_env(settings, "python"),
            r_env=docs.explicit_env(settings, "r"),
        )
        s.add(project)
        s.flush()
        for item in content.objects:
            definition = remap(item["definition"], remapping)
            obj = ProjectObject(
                project_key=key,
                kind=item["kind"],
                name=item["name"],
                type=item["type"],
                definition={**definition, "projectKey": key} if "projectKey" in definition else definition,
                payload=item["payload"],
                created_on=now,
                modified_on=now,
            )
            if item["kind"] == "RECIPE":
                selection = (definition.get("params") or {}).get("envSelection") or {}
                if item["type"] in ENV_LANG_OF_TYPE and selection.get("envMode") == "EXPLICIT_ENV":
                    obj.env_lang, obj.env_name = ENV_LANG_OF_TYPE[item["type"]], selection.get("envName")
            if item["kind"] == "SCENARIO":
                triggers = definition.get("triggers") if isinstance(definition.get("triggers"), list) else []
                obj.active_with_triggers = bool(definition.get("active")) and any(
                    isinstance(t, dict) and t.get("active", True) for t in triggers
                )
            s.add(obj)
        for nb in content.sql_notebooks:
            s.add(
                SqlNotebook(
                    project_key=key,
                    id=nb["id"],
                    name=nb["name"],
                    language=nb["language"],
                    connection=remapping["connections"].get(nb["connection"], nb["connection"]),
                    content=remap(nb["content"], remapping),
                    tags=nb["tags"],
                    created_on=now,
                    created_by=principal.name,
                    modified_on=now,
                    modified_by=principal.name,
                    version=1,
                )
            )
        if in_store:  # the notebooks come with the project's rows, in the same transaction
            for nb_name, source in content.notebooks:
                data = source() if callable(source) else source.read_bytes()
                StoreNotebooks.add_in(s, key, nb_name, orjson.loads(data))
        s.flush()
    if in_store:
        store.after_commit(lambda: shutil.rmtree(staged, ignore_errors=True))
    else:
        store.after_commit(lambda: _move_into_place(staged, final))
    return messages


def _move_into_place(staged: Path, final: Path) -> None:
    if (staged / "jupyter").is_dir():
        os.rename(staged, final)
    else:
        shutil.rmtree(staged, ignore_errors=True)
