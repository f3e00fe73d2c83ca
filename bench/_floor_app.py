"""The floor of bench/mixed_load.py: a minimal FastAPI + SQLAlchemy app doing the same
inserts, deletes and reads as labkeeper does for the mix, on the same kind of store, with
none of labkeeper's work around them (no key check, no audit row, no change stamps, no
validation beyond JSON). Run as `uvicorn bench._floor_app:app --workers 2` with
FLOOR_DATABASE_URL set; plain `def` handlers (FastAPI's thread pool), one session each."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Response
from sqlalchemy import JSON, BigInteger, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON}


class Project(Base):
    __tablename__ = "floor_projects"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    variables: Mapped[dict] = mapped_column(default=dict)
    created_on: Mapped[int] = mapped_column(BigInteger)


class Key(Base):
    __tablename__ = "floor_keys"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(100))


class Document(Base):
    __tablename__ = "floor_documents"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    body: Mapped[dict] = mapped_column(default=dict)


URL = os.environ.get("FLOOR_DATABASE_URL", "sqlite:///floor.db")
if URL.startswith("sqlite"):
    engine = create_engine(URL, connect_args={"check_same_thread": False, "timeout": 10})

    @event.listens_for(engine, "connect")
    def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
else:
    engine = create_engine(URL, pool_size=10, max_overflow=20)

app = FastAPI()


def _project(s: Session, key: str) -> Project:
    project = s.get(Project, key)
    if project is None:
        raise HTTPException(404)
    return project


@app.get("/projects/")
def list_projects(limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.scalars(select(Project).order_by(Project.key).limit(limit).offset(offset))
        return [{"projectKey": p.key, "name": p.name, "createdOn": p.created_on} for p in rows]


@app.post("/projects/")
def create_project(body: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
    with Session(engine) as s, s.begin():
        if s.get(Project, body["projectKey"]) is not None:
            raise HTTPException(409)
        s.add(Project(key=body["projectKey"], name=body["name"], variables={}, created_on=int(time.time())))
    return {"projectKey": body["projectKey"], "name": body["name"]}


@app.get("/projects/{key}")
def get_project(key: str) -> dict[str, Any]:
    with Session(engine) as s:
        p = _project(s, key)
        return {"projectKey": p.key, "name": p.name, "createdOn": p.created_on}


@app.delete("/projects/{key}")
def delete_project(key: str) -> dict[str, Any]:
    with Session(engine) as s, s.begin():
        s.delete(_project(s, key))
    return {"success": True}


@app.get("/projects/{key}/variables/")
def get_variables(key: str) -> dict[str, Any]:
    with Session(engine) as s:
        return _project(s, key).variables


@app.put("/projects/{key}/variables/", status_code=204)
def put_variables(key: str, body: dict = Body(...)) -> Response:  # noqa: B008
    with Session(engine) as s, s.begin():
        _project(s, key).variables = body
    return Response(status_code=204)


@app.get("/admin/global-api-keys/")
def list_keys() -> list[dict[str, Any]]:
    with Session(engine) as s:
        return [{"id": k.id, "label": k.label} for k in s.scalars(select(Key))]


@app.post("/admin/global-api-keys/")
def create_key(body: dict = Body(...)) -> dict[str, Any]:  # noqa: B008
    doc = {"id": secrets.token_hex(8), "label": body.get("label", ""), "key": secrets.token_hex(16)}
    with Session(engine) as s, s.begin():
        s.add(Key(id=doc["id"], label=doc["label"], secret=doc["key"]))
    return doc


@app.delete("/admin/global-api-keys/{key_id}", status_code=204)
def delete_key(key_id: str) -> Response:
    with Session(engine) as s, s.begin():
        key = s.get(Key, key_id)
        if key is None:
            raise HTTPException(404)
        s.delete(key)
    return Response(status_code=204)


@app.get("/admin/general-settings")
def get_settings() -> dict[str, Any]:
    with Session(engine) as s:
        doc = s.get(Document, "general-settings")
        return doc.body if doc is not None else {}


@app.put("/admin/general-settings", status_code=204)
def put_settings(body: dict = Body(...)) -> Response:  # noqa: B008
    with Session(engine) as s, s.begin():
        doc = s.get(Document, "general-settings")
        if doc is None:
            s.add(Document(name="general-settings", body=body))
        else:
            doc.body = body
    return Response(status_code=204)


def create_schema() -> None:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
