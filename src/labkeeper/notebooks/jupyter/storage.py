"""Where notebook documents live: a component chosen by configuration (`--notebook-storage`).

- `FileNotebooks` ("files", the default on SQLite): `data_dir/projects/<KEY>/jupyter/<name>.ipynb`
  (files.py), with the file stamps of kept answers.
- `StoreNotebooks` ("store", the default on PostgreSQL): one row per notebook in
  `jupyter_notebooks`, which every node reads, so any API node serves every notebook and a
  worker node runs a notebook saved through any other. A write is one statement (a reader
  sees the old or the new document); the table moves the store's `data` stamp, so kept
  answers need no file stamp (`stamp` answers None). At its first start on a data dir, it
  moves the notebook files found there into the store (each file is renamed `*.ipynb.moved`).

Lifecycle: built and `prepare()`d by the Jupyter component at start; every method is
blocking (call it off the event loop where it matters). Both validate names with the shared
rule and refuse documents over MAX_NOTEBOOK_BYTES; neither validates nbformat (the service
does, before writing).
"""

from __future__ import annotations

import abc
import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labkeeper.db import Store, now_ms
from labkeeper.errors import BadRequest, Conflict, NotFound
from labkeeper.names import check_name, check_project_key
from labkeeper.notebooks.jupyter import files
from labkeeper.notebooks.jupyter.models import StoredCheckpoint, StoredNotebook

log = logging.getLogger("labkeeper.jupyter")
Stamp = tuple[Callable[[], Any], Any] | None


@dataclass(frozen=True)
class NotebookInfo:
    size: int
    created: float  # seconds since the epoch
    modified: float
    sha256: str | None


MOVED_SUFFIX = ".moved"
# The file stamp of an answer that read no file (store rows only, kept by the store's stamps).
NO_FILES: Stamp = ((lambda: ()), ())


class NotebookStorage(abc.ABC):
    @abc.abstractmethod
    def prepare(self) -> None:
        """Get ready at start (e.g. move files found in the data dir into the store)."""

    @abc.abstractmethod
    def read(self, project_key: str, name: str) -> dict[str, Any]:
        """The notebook's document; NotFound when absent."""

    @abc.abstractmethod
    def exists(self, project_key: str, name: str) -> bool: ...

    @abc.abstractmethod
    def create(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        """Add a notebook; Conflict when one has this name."""

    @abc.abstractmethod
    def write(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        """Replace (or add) the notebook's document, atomically."""

    @abc.abstractmethod
    def delete(self, project_key: str, name: str) -> bool:
        """Remove the notebook; whether it existed."""

    @abc.abstractmethod
    def rename(self, project_key: str, name: str, new_name: str) -> dict[str, Any]:
        """Rename within the project, never over another notebook (Conflict); its document."""

    @abc.abstractmethod
    def info(self, project_key: str, name: str, *, digest: bool = False) -> NotebookInfo | None:
        """Size, times and (asked for) the SHA-256 of the stored document, for Lab; None when
        absent."""

    @abc.abstractmethod
    def names(self, project_key: str) -> list[str]: ...

    @abc.abstractmethod
    def listing(self, project_key: str) -> tuple[list[str], Stamp]:
        """The project's notebook names and the file stamp of a kept answer read from them."""

    @abc.abstractmethod
    def stamp(self, project_key: str, name: str) -> Stamp:
        """The file stamp of a kept answer read from one notebook (None: store rows only)."""

    @abc.abstractmethod
    def count_by_project(self, project_keys: list[str]) -> dict[str, int]: ...

    @abc.abstractmethod
    def counts_stamp(self, project_keys: list[str]) -> Stamp:
        """The file stamp of a kept count of notebooks (taken before they are counted)."""

    @abc.abstractmethod
    def contents_stamp(self, project_keys: list[str]) -> Stamp:
        """The file stamp of a kept answer read from every notebook of these projects."""

    def project_deleted(self, project_key: str) -> None:
        """Forget a deleted project's notebooks (files go with the project's folder)."""
        return None


class FileNotebooks(NotebookStorage):
    """Notebooks as files of the data directory. With the instance's `store`, a write made in
    a request's unit of work reaches its file once the unit has committed (with its audit
    row): a request that fails leaves the file as it was."""

    def __init__(self, data_dir: Path, store: Store | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.store = store

    def _write(self, path: Path, content: dict[str, Any]) -> None:
        data = files.dumped(content)  # a notebook too large is refused now, within the request
        if self.store is None:
            files.write_bytes(path, data)
        else:
            self.store.after_commit(lambda: files.write_bytes(path, data))

    def prepare(self) -> None:
        return None

    def _path(self, project_key: str, name: str) -> Path:
        return files.notebook_path(self.data_dir, project_key, name)

    def read(self, project_key: str, name: str) -> dict[str, Any]:
        return files.read(self._path(project_key, name))

    def exists(self, project_key: str, name: str) -> bool:
        return self._path(project_key, name).is_file()

    def create(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        path = self._path(project_key, name)
        if path.exists():
            raise Conflict(f"Jupyter notebook {name!r} already exists in project {project_key}")
        self._write(path, content)

    def write(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        self._write(self._path(project_key, name), content)

    def delete(self, project_key: str, name: str) -> bool:
        path = self._path(project_key, name)
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed

    def rename(self, project_key: str, name: str, new_name: str) -> dict[str, Any]:
        source, target = self._path(project_key, name), self._path(project_key, new_name)
        content = files.read(source)  # 404 when absent
        try:
            os.link(source, target)  # fails when the target exists: a rename never replaces
        except FileExistsError:
            raise Conflict(f"Jupyter notebook {new_name!r} already exists in project {project_key}") from None
        source.unlink()
        return content

    def info(self, project_key: str, name: str, *, digest: bool = False) -> NotebookInfo | None:
        try:
            fd = os.open(self._path(project_key, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        hashed = hashlib.sha256()
        with os.fdopen(fd, "rb") as source:
            stat = os.fstat(source.fileno())
            while digest and (chunk := source.read(1 << 20)):
                hashed.update(chunk)
        return NotebookInfo(
            stat.st_size, stat.st_ctime, stat.st_mtime, hashed.hexdigest() if digest else None
        )

    def names(self, project_key: str) -> list[str]:
        return files.names(self.data_dir, project_key)

    def listing(self, project_key: str) -> tuple[list[str], Stamp]:
        return files.listing_stamp(self.data_dir, project_key)

    def stamp(self, project_key: str, name: str) -> Stamp:
        return files.notebook_stamp(self._path(project_key, name))

    def count_by_project(self, project_keys: list[str]) -> dict[str, int]:
        return files.count_by_project(self.data_dir, project_keys)

    def counts_stamp(self, project_keys: list[str]) -> Stamp:
        return files.folders_stamp(self.data_dir, project_keys)

    def contents_stamp(self, project_keys: list[str]) -> Stamp:
        return files.all_notebooks_stamp(self.data_dir, project_keys)


def _dumped(content: dict[str, Any]) -> str:
    return files.dumped(content, indent=False).decode()


def _new_row(project_key: str, name: str, data: str) -> StoredNotebook:
    return StoredNotebook(
        project_key=project_key, name=name, content=data, size=len(data), modified_on=now_ms()
    )


def _checked(project_key: str, name: str) -> tuple[str, str]:
    return check_project_key(project_key), check_name("notebook name", name)


class StoreNotebooks(NotebookStorage):
    def __init__(self, store: Store, data_dir: Path) -> None:
        self.store = store
        self.data_dir = Path(data_dir)

    def prepare(self) -> None:
        self.move_files_in()

    def move_files_in(self) -> list[tuple[str, str]]:
        """Move the notebook files of this node's data dir into the store (a notebook already
        in the store wins; its file is kept, renamed, like every moved one). Returns what moved."""
        moved: list[tuple[str, str]] = []
        root = self.data_dir / "projects"
        for path in sorted(root.glob(f"*/jupyter/*{files.SUFFIX}")) if root.is_dir() else []:
            project_key, name = path.parent.parent.name, path.name[: -len(files.SUFFIX)]
            try:
                _checked(project_key, name)
                content = orjson.loads(path.read_bytes())
                if not isinstance(content, dict):
                    raise ValueError("not a JSON object")
                if not self.exists(project_key, name):
                    self.create(project_key, name, content)
                    moved.append((project_key, name))
            except (ValueError, OSError, BadRequest, Conflict) as exc:
                log.warning("notebook file %s stays a file: %s", path, exc)
                continue
            os.replace(path, path.with_name(path.name + MOVED_SUFFIX))
        if moved:
            log.info("moved %d notebook files into the store", len(moved))
        return moved

    def _get(self, project_key: str, name: str) -> StoredNotebook | None:
        project_key, name = _checked(project_key, name)
        with self.store.read() as s:
            return s.get(StoredNotebook, (project_key, name))

    def read(self, project_key: str, name: str) -> dict[str, Any]:
        return orjson.loads(self.raw(project_key, name))

    def raw(self, project_key: str, name: str) -> bytes:
        """The document as stored (JSON bytes), e.g. for an archive."""
        row = self._get(project_key, name)
        if row is None:
            raise NotFound(f"Jupyter notebook {name!r} does not exist")
        return row.content.encode()

    @staticmethod
    def add_in(session: Session, project_key: str, name: str, content: dict[str, Any]) -> None:
        """Add a notebook within the caller's transaction (a project created with its notebooks)."""
        project_key, name = _checked(project_key, name)
        data = _dumped(content)
        session.add(_new_row(project_key, name, data))

    def exists(self, project_key: str, name: str) -> bool:
        project_key, name = _checked(project_key, name)
        with self.store.read() as s:
            return bool(
                s.scalar(
                    select(func.count())
                    .select_from(StoredNotebook)
                    .where(StoredNotebook.project_key == project_key, StoredNotebook.name == name)
                )
            )

    def create(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        project_key, name = _checked(project_key, name)
        data = _dumped(content)
        try:
            with self.store.begin() as s:
                s.add(_new_row(project_key, name, data))
        except IntegrityError:
            raise Conflict(f"Jupyter notebook {name!r} already exists in project {project_key}") from None

    def write(self, project_key: str, name: str, content: dict[str, Any]) -> None:
        project_key, name = _checked(project_key, name)
        data = _dumped(content)
        with self.store.begin() as s:
            done = s.execute(
                update(StoredNotebook)
                .where(StoredNotebook.project_key == project_key, StoredNotebook.name == name)
                .values(content=data, size=len(data), modified_on=now_ms())
            )
            if done.rowcount == 0:
                s.add(_new_row(project_key, name, data))

    def delete(self, project_key: str, name: str) -> bool:
        project_key, name = _checked(project_key, name)
        with self.store.begin() as s:
            done = s.execute(
                delete(StoredNotebook).where(
                    StoredNotebook.project_key == project_key, StoredNotebook.name == name
                )
            )
            # Its Lab checkpoint goes with it (lab/checkpoints.py), whichever door deleted it.
            s.execute(
                delete(StoredCheckpoint).where(
                    StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == name
                )
            )
            return bool(done.rowcount)

    def rename(self, project_key: str, name: str, new_name: str) -> dict[str, Any]:
        content = self.read(project_key, name)  # 404 when absent
        project_key, new_name = _checked(project_key, new_name)
        try:
            with self.store.begin() as s:
                s.execute(
                    update(StoredNotebook)
                    .where(StoredNotebook.project_key == project_key, StoredNotebook.name == name)
                    .values(name=new_name, modified_on=now_ms())
                )
                s.execute(  # its checkpoint follows it; the name's former one was its own
                    delete(StoredCheckpoint).where(
                        StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == new_name
                    )
                )
                s.execute(
                    update(StoredCheckpoint)
                    .where(StoredCheckpoint.project_key == project_key, StoredCheckpoint.name == name)
                    .values(name=new_name)
                )
        except IntegrityError:
            raise Conflict(f"Jupyter notebook {new_name!r} already exists in project {project_key}") from None
        return content

    def info(self, project_key: str, name: str, *, digest: bool = False) -> NotebookInfo | None:
        row = self._get(project_key, name)
        if row is None:
            return None
        hashed = hashlib.sha256(row.content.encode()).hexdigest() if digest else None
        return NotebookInfo(row.size, row.modified_on / 1000, row.modified_on / 1000, hashed)

    def names(self, project_key: str) -> list[str]:
        project_key = check_project_key(project_key)
        with self.store.read() as s:
            return list(
                s.scalars(
                    select(StoredNotebook.name)
                    .where(StoredNotebook.project_key == project_key)
                    .order_by(StoredNotebook.name)
                )
            )

    def listing(self, project_key: str) -> tuple[list[str], Stamp]:
        return self.names(project_key), None

    def stamp(self, project_key: str, name: str) -> Stamp:
        _checked(project_key, name)
        return None

    def count_by_project(self, project_keys: list[str]) -> dict[str, int]:
        with self.store.read() as s:
            rows = s.execute(
                select(StoredNotebook.project_key, func.count())
                .where(StoredNotebook.project_key.in_(project_keys))
                .group_by(StoredNotebook.project_key)
            ).all()
        return {key: n for key, n in rows if n}

    def counts_stamp(self, project_keys: list[str]) -> Stamp:
        return NO_FILES

    def contents_stamp(self, project_keys: list[str]) -> Stamp:
        return NO_FILES

    def project_deleted(self, project_key: str) -> None:
        with self.store.begin() as s:
            s.execute(delete(StoredNotebook).where(StoredNotebook.project_key == project_key))
            s.execute(delete(StoredCheckpoint).where(StoredCheckpoint.project_key == project_key))


def storage_of(store: Store, data_dir: Path) -> NotebookStorage:
    """The notebook storage of the instance running on `store` (files when none runs)."""
    from labkeeper.notebooks.jupyter.sessions import MANAGERS

    manager = MANAGERS.get(id(store))
    return manager.notebooks if manager is not None else FileNotebooks(data_dir)


def storage_for(kind: str, store: Store, data_dir: Path) -> NotebookStorage:
    if kind == "store":
        return StoreNotebooks(store, data_dir)
    return FileNotebooks(data_dir, store)
