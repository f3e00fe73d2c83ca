"""The project archive: a zip, written as a stream and read with every hostile case refused.

Layout (format 1):
    labkeeper-project.json     {"format": 1, "project": {...}, "objects": [...], "sqlNotebooks": [...]}
    jupyter/<name>.ipynb       one file per Jupyter notebook

Reading refuses, with a 400 and nothing written: a file that is not a zip; an entry whose
name is absolute, climbs (`..`), uses a backslash, or is outside the layout; a symbolic
link or any entry that is not a plain file; a duplicate entry; more than MAX_ENTRIES
entries; an entry or a whole archive whose size (declared or actual) passes the limits; an
entry that expands more than MAX_RATIO times (a zip bomb). Notebook files are written only
by labkeeper, under names it checked, into a staging folder the caller owns.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from labkeeper.errors import BadRequest, NotFound
from labkeeper.names import check_name
from labkeeper.notebooks.jupyter import files as notebook_files
from labkeeper.projects.archive import content as project_content
from labkeeper.projects.archive.content import ProjectContent

FORMAT = 1
MANIFEST = "labkeeper-project.json"
NOTEBOOK_DIR = "jupyter/"
MAX_ENTRIES = 50_000
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_ENTRY_BYTES = notebook_files.MAX_NOTEBOOK_BYTES
MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
MAX_RATIO = 200  # deflate reaches ~1000x on zeros; real JSON stays well under 50x
_CHUNK = 64 * 1024


class _Sink(io.RawIOBase):
    """A write-only stream whose bytes are taken away as they come (zipfile then writes
    data descriptors, as for any stream it cannot seek)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _manifest(content: ProjectContent) -> bytes:
    return orjson.dumps(
        {
            "format": FORMAT,
            "project": content.project,
            "objects": content.objects,
            "sqlNotebooks": content.sql_notebooks,
        }
    )


def stream(content: ProjectContent) -> Iterator[bytes]:
    """The archive, a chunk at a time; notebook files are read as they are written out."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        archive.writestr(MANIFEST, _manifest(content))
        yield sink.take()
        for name, path in content.notebooks:
            if callable(path):  # kept in the store
                try:
                    archive.writestr(f"{NOTEBOOK_DIR}{name}{notebook_files.SUFFIX}", path())
                except NotFound:
                    continue  # deleted meanwhile
                yield sink.take()
                continue
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except (FileNotFoundError, OSError):
                continue  # deleted meanwhile, or not a plain file: not part of the project
            with (
                os.fdopen(fd, "rb") as source,
                archive.open(f"{NOTEBOOK_DIR}{name}{notebook_files.SUFFIX}", "w") as out,
            ):
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    if data := sink.take():
                        yield data
            yield sink.take()
    yield sink.take()


def _check_entry(info: zipfile.ZipInfo) -> str | None:
    """The notebook name an entry holds (None for the manifest); a 400 for anything else."""
    name = info.filename
    if name.startswith("/") or "\\" in name or ".." in name.split("/") or name != os.path.normpath(name):
        raise BadRequest(f"Invalid project archive: entry {name!r:.120} points outside the project")
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # 0: no type recorded
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a plain file"
        raise BadRequest(f"Invalid project archive: entry {name!r:.120} is {kind}")
    limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_ENTRY_BYTES
    if info.file_size > limit:
        raise BadRequest(f"Invalid project archive: entry {name!r:.120} is larger than {limit} bytes")
    if info.file_size > 1024 * 1024 and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        raise BadRequest(
            f"Invalid project archive: entry {name!r:.120} expands {MAX_RATIO}+ times (a zip bomb?)"
        )
    if name == MANIFEST:
        return None
    if not name.startswith(NOTEBOOK_DIR) or not name.endswith(notebook_files.SUFFIX):
        raise BadRequest(f"Invalid project archive: unexpected entry {name!r:.120}")
    return check_name("notebook name in the archive", name[len(NOTEBOOK_DIR) : -len(notebook_files.SUFFIX)])


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise BadRequest(f"Invalid project archive: entry {info.filename!r:.120} is larger than it says")
    return data


def check_structure(path: Path) -> None:
    """The entry checks alone (no entry is expanded): what an upload is refused for at once."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_ENTRIES:
                raise BadRequest(f"Invalid project archive: more than {MAX_ENTRIES} entries")
            names = [info.filename for info in infos]
            for info in infos:
                _check_entry(info)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BadRequest(
            "Invalid project archive: not a zip file (export one with POST /projects/{key}/export)"
        ) from None
    if len(set(names)) != len(names):
        raise BadRequest("Invalid project archive: an entry appears twice")
    if MANIFEST not in names:
        raise BadRequest(f"Invalid project archive: {MANIFEST} is missing (not a labkeeper project archive)")
    if sum(info.file_size for info in infos) > MAX_TOTAL_BYTES:
        raise BadRequest(f"Invalid project archive: it expands to more than {MAX_TOTAL_BYTES} bytes")


def read(path: Path, staged: Path, remapping: dict[str, dict[str, str]]) -> ProjectContent:
    """Check the archive at `path` and return its content, its notebooks written under
    `staged/jupyter` (validated). Raises BadRequest on any of the cases in the docstring."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise BadRequest(
            "Invalid project archive: not a zip file (export one with POST /projects/{key}/export)"
        ) from None
    with archive:
        infos = archive.infolist()
        if len(infos) > MAX_ENTRIES:
            raise BadRequest(f"Invalid project archive: more than {MAX_ENTRIES} entries")
        seen: set[str] = set()
        notebooks: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            if info.filename in seen:
                raise BadRequest(f"Invalid project archive: entry {info.filename!r:.120} appears twice")
            seen.add(info.filename)
            total += info.file_size
            nb_name = _check_entry(info)
            if nb_name is not None:
                notebooks[nb_name] = info
        if total > MAX_TOTAL_BYTES:
            raise BadRequest(f"Invalid project archive: it expands to more than {MAX_TOTAL_BYTES} bytes")
        if MANIFEST not in seen:
            raise BadRequest(
                f"Invalid project archive: {MANIFEST} is missing (not a labkeeper project archive)"
            )
        try:
            manifest = orjson.loads(_read_bounded(archive, archive.getinfo(MANIFEST), MAX_MANIFEST_BYTES))
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"Invalid project archive: {MANIFEST} is not JSON: {exc}") from None
        except (zipfile.BadZipFile, EOFError, RuntimeError) as exc:
            raise BadRequest(f"Invalid project archive: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BadRequest(f"Invalid project archive: format {FORMAT} is required")
        objects = manifest.get("objects") or []
        sql_notebooks = manifest.get("sqlNotebooks") or []
        if not isinstance(objects, list) or not isinstance(sql_notebooks, list):
            raise BadRequest("Invalid project archive: objects and sqlNotebooks must be lists")
        content = ProjectContent(
            project=project_content.check_project_doc(manifest.get("project")),
            objects=[project_content.check_object(o) for o in objects],
            sql_notebooks=[project_content.check_sql_notebook(n) for n in sql_notebooks],
        )
        _unique(content)
        folder = staged / "jupyter"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for nb_name, info in notebooks.items():
            try:
                data = _read_bounded(archive, info, MAX_ENTRY_BYTES)
                notebook = notebook_files.validate(orjson.loads(data))
            except orjson.JSONDecodeError:
                raise BadRequest(f"Invalid project archive: notebook {nb_name!r} is not JSON") from None
            except (zipfile.BadZipFile, EOFError, RuntimeError) as exc:
                raise BadRequest(f"Invalid project archive: notebook {nb_name!r}: {exc}") from None
            target = folder / (nb_name + notebook_files.SUFFIX)
            content.notebooks.append((nb_name, target))
            target.write_bytes(
                orjson.dumps(project_content.remap_kernel(notebook, remapping), option=orjson.OPT_INDENT_2)
            )
    return content


def _unique(content: ProjectContent) -> None:
    keys = [(o["kind"], o["name"]) for o in content.objects]
    if len(set(keys)) != len(keys):
        raise BadRequest("Invalid project archive: two objects of the same kind share a name")
    ids = [n["id"] for n in content.sql_notebooks]
    if len(set(ids)) != len(ids):
        raise BadRequest("Invalid project archive: two SQL notebooks share an id")
