"""Project export (a streamed zip), import (upload, then process with a key and remapping)
and duplicate. On one machine (SQLite), uploads wait in `<data dir>/imports/` (0700), each
with a note of who sent it; on a store shared by several nodes (`shared`), in the store
(kept.py), since the process call may reach another node. Either way only the uploader may
process an upload, processing removes it, and an upload left for a day is removed by the
next one. The receiving node's own files (the raw body, the archive) are removed before its
answer; the processing node's copy, before its own."""

from __future__ import annotations

import functools
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError

from labkeeper.auth.principal import Principal
from labkeeper.db import Store
from labkeeper.errors import BadRequest, Conflict, NotFound
from labkeeper.names import check_project_key, check_text
from labkeeper.notebooks.jupyter import files as notebook_files
from labkeeper.projects.access import get_project_checked
from labkeeper.projects.archive import content as project_content
from labkeeper.projects.archive import kept, zipformat

IMPORTS = "imports"
UPLOAD_TTL_SECONDS = 24 * 3600
_ID_CHARS = frozenset("0123456789abcdef")


def export_stream(store: Store, data_dir: Path, principal: Principal, key: str) -> Iterator[bytes]:
    """The archive of project `key` (WRITE on it: the archive carries its permissions and
    variables). The store is read now; notebook files as the archive streams."""
    with store.read() as s:
        get_project_checked(s, principal, check_project_key(key), "WRITE")
    return zipformat.stream(project_content.from_store(store, data_dir, principal, key))


def _imports(data_dir: Path) -> Path:
    folder = data_dir / IMPORTS
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _sweep(data_dir: Path) -> None:
    cutoff = time.time() - UPLOAD_TTL_SECONDS
    for folder, pattern in (
        (_imports(data_dir), "*"),
        (data_dir / "projects", project_content.STAGING_PREFIX + "*"),
    ):
        for path in folder.glob(pattern):
            try:
                if path.lstat().st_mtime < cutoff:
                    shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
            except OSError:
                pass


def upload_paths(data_dir: Path, shared: Store | None = None) -> tuple[str, Path, Path]:
    """A new import's id, the file its raw body goes to, and the archive's own file."""
    _sweep(data_dir)
    if shared is not None:
        kept.sweep(shared)
    import_id = secrets.token_hex(16)
    folder = _imports(data_dir)
    return import_id, folder / f".{import_id}.body", folder / f"{import_id}.zip"


def accept_upload(
    principal: Principal, import_id: str, archive: Path, shared: Store | None = None
) -> dict[str, Any]:
    """Check an uploaded archive's entries (nothing expanded yet) and note its uploader, by
    the file or (`shared`) in the store; a refused archive is removed."""
    try:
        zipformat.check_structure(archive)
        if shared is not None:
            kept.put(shared, import_id, principal.name, archive)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    if shared is not None:
        archive.unlink(missing_ok=True)
    else:
        archive.with_suffix(".json").write_bytes(orjson.dumps({"owner": principal.name}))
    return {"id": import_id}


def _check_id(import_id: str) -> None:
    if not isinstance(import_id, str) or len(import_id) != 32 or not set(import_id) <= _ID_CHARS:
        raise NotFound(f"No project import {import_id!r:.40}: upload the archive first")


def _check_stored_upload(store: Store, principal: Principal, import_id: str) -> None:
    _check_id(import_id)
    owner = kept.owner_of(store, import_id)
    if owner is None:
        raise NotFound(f"No project import {import_id}: upload the archive first")
    if owner != principal.name:
        raise NotFound(f"No project import {import_id} of {principal.name}: only its uploader may process it")


def _copy_of_stored_upload(store: Store, data_dir: Path, import_id: str) -> Path:
    """This node's private copy of an upload kept in the store (the caller removes it)."""
    copy = _imports(data_dir) / f".{import_id}-{secrets.token_hex(4)}.zip"
    try:
        kept.fetch(store, import_id, copy)
    except BaseException:
        copy.unlink(missing_ok=True)
        raise
    return copy


def _upload_of(data_dir: Path, principal: Principal, import_id: str) -> Path:
    _check_id(import_id)
    folder = _imports(data_dir)
    try:
        owner = orjson.loads((folder / f"{import_id}.json").read_bytes()).get("owner")
    except (FileNotFoundError, orjson.JSONDecodeError):
        raise NotFound(f"No project import {import_id}: upload the archive first") from None
    if owner != principal.name:
        raise NotFound(f"No project import {import_id} of {principal.name}: only its uploader may process it")
    return folder / f"{import_id}.zip"


def _create(
    store: Store,
    data_dir: Path,
    principal: Principal,
    *,
    fill: Any,
    key: str,
    name: str | None,
    remapping: dict[str, dict[str, str]],
) -> tuple[str, list[dict[str, str]]]:
    staged = project_content.staging_dir(data_dir, secrets.token_hex(8))
    try:
        content = fill(staged)
        target = check_project_key(key or content.project["projectKey"])
        label = check_text("project name", name or content.project["name"], max_length=200, allow_empty=False)
        messages = project_content.create_from(
            store, data_dir, principal, content, key=target, name=label, remapping=remapping, staged=staged
        )
    except IntegrityError:
        shutil.rmtree(staged, ignore_errors=True)
        raise Conflict(f"Project {key} was created at the same time: choose another key") from None
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return target, messages


def process(
    store: Store, data_dir: Path, principal: Principal, import_id: str, body: object, *, shared: bool = False
) -> dict[str, Any]:
    principal.require("mayCreateProjects")
    settings = body if isinstance(body, dict) else {}
    if body is not None and not isinstance(body, dict):
        raise BadRequest("The import settings must be a JSON object")
    if shared:
        _check_stored_upload(store, principal, import_id)
    else:
        path = _upload_of(data_dir, principal, import_id)
    remapping = project_content.check_remapping(settings.get("remapping"))
    key = settings.get("targetProjectKey")
    if key is not None:
        check_project_key(key)
    if shared:
        path = _copy_of_stored_upload(store, data_dir, import_id)
        try:
            return _process(
                store,
                data_dir,
                principal,
                path,
                key,
                remapping,
                forget=lambda: kept.forget(store, import_id),  # with the project it made
                forget_refused=lambda: store.after_rollback(lambda: kept.forget(store, import_id)),
            )
        finally:
            path.unlink(missing_ok=True)
    forget = functools.partial(_forget, path)
    return _process(store, data_dir, principal, path, key, remapping, forget=forget, forget_refused=forget)


def _process(
    store: Store,
    data_dir: Path,
    principal: Principal,
    path: Path,
    key: str | None,
    remapping: dict[str, dict[str, str]],
    *,
    forget: Callable[[], None],
    forget_refused: Callable[[], None],
) -> dict[str, Any]:
    try:
        target, messages = _create(
            store,
            data_dir,
            principal,
            fill=lambda staged: zipformat.read(path, staged, remapping),
            key=key,
            name=None,
            remapping=remapping,
        )
    except BadRequest:
        forget_refused()  # a hostile or broken archive is not kept for another try
        raise
    forget()
    return {
        "success": True,
        "projectKey": target,
        "anyMessage": bool(messages),
        "messages": messages,
        "warning": bool(messages),
        "error": False,
        "fatal": False,
    }


def _forget(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)


def duplicate(store: Store, data_dir: Path, principal: Principal, key: str, body: object) -> dict[str, Any]:
    with store.read() as s:  # rights first: a caller without them learns nothing more
        get_project_checked(s, principal, check_project_key(key), "WRITE")
    principal.require("mayCreateProjects")
    if not isinstance(body, dict):
        raise BadRequest("The duplicate request must be a JSON object")
    target = check_project_key(body.get("targetProjectKey"))
    name = check_text("targetProjectName", body.get("targetProjectName"), max_length=200, allow_empty=False)
    remapping = project_content.check_remapping(body.get("remapping") or None)
    source = project_content.from_store(store, data_dir, principal, key)

    def fill(staged: Path) -> project_content.ProjectContent:
        folder = staged / "jupyter"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        copied = []
        for nb_name, path in source.notebooks:
            try:
                notebook = orjson.loads(path()) if callable(path) else notebook_files.read(path)
            except NotFound:
                continue
            copy = folder / (nb_name + notebook_files.SUFFIX)
            copy.write_bytes(
                orjson.dumps(project_content.remap_kernel(notebook, remapping), option=orjson.OPT_INDENT_2)
            )
            copied.append((nb_name, copy))
        source.notebooks = copied
        return source

    created, messages = _create(
        store, data_dir, principal, fill=fill, key=target, name=name, remapping=remapping
    )
    return {"originalProjectKey": key, "duplicatedProjectKey": created, "messages": messages}
