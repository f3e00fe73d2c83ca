"""Notebook files: `data_dir/projects/<KEY>/jupyter/<name>.ipynb`, valid nbformat 4.

Names pass the shared name rule, so a notebook can never be written outside its project's
folder. Writes are atomic (temporary file + rename): a reader sees the old or the new
notebook, never half of one.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import orjson

from labkeeper.errors import BadRequest, NotFound
from labkeeper.names import check_name, check_project_key
from labkeeper.server.answers import files_stamp, path_stat

SUFFIX = ".ipynb"
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024


def notebooks_dir(data_dir: Path, project_key: str) -> Path:
    return Path(data_dir) / "projects" / check_project_key(project_key) / "jupyter"


def notebook_path(data_dir: Path, project_key: str, name: str) -> Path:
    return notebooks_dir(data_dir, project_key) / (check_name("notebook name", name) + SUFFIX)


def validate(content: Any) -> dict[str, Any]:
    """Return `content` if it is a valid nbformat 4 notebook, else a 400 saying why."""
    if not isinstance(content, dict):
        raise BadRequest(f"Invalid notebook: a JSON object is required, got {type(content).__name__}")
    if content.get("nbformat") != 4:
        raise BadRequest(
            f"Invalid notebook: nbformat must be 4, got {content.get('nbformat')!r}",
            detail="Notebooks are stored in nbformat 4: the body needs 'nbformat': 4, 'nbformat_minor', "
            "'metadata' and 'cells'",
        )
    for key, kind, what in (
        ("nbformat_minor", int, "an integer"),
        ("metadata", dict, "an object"),
        ("cells", list, "an array"),
    ):
        if not isinstance(content.get(key), kind) or isinstance(content.get(key), bool):
            raise BadRequest(f"Invalid notebook: '{key}' must be {what}, got {content.get(key)!r:.80}")
    for index, cell in enumerate(content["cells"]):
        if not isinstance(cell, dict):
            raise BadRequest(f"Invalid notebook: at cells/{index}: a cell must be an object")
    try:
        nbformat.validate(content, version=4)
    except (KeyError, TypeError, AttributeError) as exc:
        raise BadRequest(f"Invalid notebook: {type(exc).__name__}: {exc}") from None
    except nbformat.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the notebook"
        raise BadRequest(
            f"Invalid notebook: at {where}: {exc.message}",
            detail=f"The notebook is not valid nbformat 4: at {where}: {exc.message}",
        ) from None
    return content


def _refuse_links(path: Path) -> None:
    """A notebook, its `jupyter/` folder and its project folder are never symbolic links:
    whatever put one there, no read or write follows it out of the project."""
    for part in (path.parent.parent, path.parent):
        if os.path.islink(part):
            raise BadRequest(f"Refused: {part.name!r} is a symbolic link, which notebooks never follow")


def read(path: Path) -> dict[str, Any]:
    _refuse_links(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"Jupyter notebook {path.stem!r} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadRequest(
                f"Refused: notebook {path.stem!r} is a symbolic link, which notebooks never follow"
            ) from None
        raise
    with os.fdopen(fd, "rb") as source:
        raw = source.read()
    return orjson.loads(raw)


def write(path: Path, content: dict[str, Any]) -> None:
    write_bytes(path, dumped(content))


def dumped(content: dict[str, Any], *, indent: bool = True) -> bytes:
    """The notebook's stored content; a 400 when it is over MAX_NOTEBOOK_BYTES."""
    data = orjson.dumps(content, option=orjson.OPT_INDENT_2 if indent else None)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise BadRequest(f"Invalid notebook: at most {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MiB")
    return data


def write_bytes(path: Path, data: bytes) -> None:
    """Replace the notebook's file at once (never a half-written file), refusing links."""
    _refuse_links(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def listing_stamp(data_dir: Path, project_key: str) -> tuple[list[str], tuple[Callable[[], Any], Any]]:
    """A project's notebook names, and the stamp of a kept answer read from them
    (server/answers.py): the folder's stat taken before it is listed, then each file's."""
    folder = str(notebooks_dir(data_dir, project_key))
    folder_stat = path_stat(folder, time.time_ns())
    found = names(data_dir, project_key)
    paths = [folder, *(os.path.join(folder, name + SUFFIX) for name in found)]
    rest = files_stamp(paths[1:])
    value = None if folder_stat is None or rest is None else (folder_stat, *rest)
    return found, ((lambda: files_stamp(paths)), value)


def _project_folders(data_dir: Path, project_keys: list[str], now_ns: int) -> tuple[Any, list[str]]:
    """The stat of `projects/`, then the paths of the projects' folders and notebook folders
    that exist, each parent before its child: a folder created later changes its parent's
    stat, so the projects without a folder need no stat of their own."""
    root = os.path.join(str(data_dir), "projects")
    root_stat = path_stat(root, now_ns)
    try:
        present = set(os.listdir(root))
    except FileNotFoundError:
        present = set()
    paths = []
    for key in project_keys:
        if key in present:
            folder = str(notebooks_dir(data_dir, key))
            paths += [os.path.dirname(folder), folder]
    return root_stat, [root, *paths]


def folders_stamp(data_dir: Path, project_keys: list[str]) -> tuple[Callable[[], Any], Any]:
    """The stat of every project's notebook folder (which notebooks exist), taken before they
    are listed, for a kept answer (server/answers.py)."""
    root_stat, paths = _project_folders(data_dir, project_keys, time.time_ns())
    rest = files_stamp(paths[1:])
    value = None if root_stat is None or rest is None else (root_stat, *rest)
    return (lambda: files_stamp(paths)), value


def all_notebooks_stamp(data_dir: Path, project_keys: list[str]) -> tuple[Callable[[], Any], Any]:
    """The stat of every project's notebook folder and of every notebook in it (what each
    notebook holds), taken before they are read, for a kept answer."""
    now_ns = time.time_ns()
    root_stat, folders = _project_folders(data_dir, project_keys, now_ns)
    first = [root_stat, *(path_stat(folder, now_ns) for folder in folders[1:])]
    paths = list(folders)
    for folder in folders[2::2]:  # the notebook folders
        try:
            entries = sorted(os.listdir(folder))
        except FileNotFoundError:
            continue
        paths += [os.path.join(folder, e) for e in entries if e.endswith(SUFFIX) and not e.startswith(".")]
    rest = files_stamp(paths[len(folders) :])
    value = None if None in first or rest is None else (*first, *rest)
    return (lambda: files_stamp(paths)), value


def notebook_stamp(path: Path) -> tuple[Callable[[], Any], Any]:
    """The stamp of a kept answer read from one notebook file (taken before it is read)."""
    paths = [str(path)]
    return (lambda: files_stamp(paths)), files_stamp(paths)


def names(data_dir: Path, project_key: str) -> list[str]:
    folder = notebooks_dir(data_dir, project_key)
    try:
        entries = os.listdir(folder)
    except FileNotFoundError:
        return []
    return sorted(e[: -len(SUFFIX)] for e in entries if e.endswith(SUFFIX) and not e.startswith("."))


def kernel_spec_of(content: dict[str, Any]) -> dict[str, Any]:
    metadata = content.get("metadata") or {}
    spec = metadata.get("kernelspec") or {}
    info = metadata.get("language_info") or {}
    language = spec.get("language") or info.get("name") or "python"
    return {
        "name": spec.get("name") or "python3",
        "display_name": spec.get("display_name") or spec.get("name") or "Python 3",
        "language": language,
    }


def list_item(project_key: str, name: str, content: dict[str, Any]) -> dict[str, Any]:
    spec = kernel_spec_of(content)
    tags = (content.get("metadata") or {}).get("tags") or []
    return {
        "projectKey": project_key,
        "name": name,
        "language": spec["language"],
        "kernelSpec": spec,
        "tags": tags if isinstance(tags, list) else [],
    }


def clear_outputs(content: dict[str, Any]) -> int:
    """Empty every code cell's outputs and execution count; return how many cells changed."""
    changed = 0
    for cell in content.get("cells") or []:
        if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count")):
            cell["outputs"] = []
            cell["execution_count"] = None
            changed += 1
    return changed


def count_by_project(data_dir: Path, project_keys: list[str]) -> dict[str, int]:
    counts = {}
    for key in project_keys:
        n = len(names(data_dir, key))
        if n:
            counts[key] = n
    return counts
