"""Validation of SQL notebook content: `{connection, cells: [{id, type, name, code}], ...}`.

A cell's `code` is a string or a list of lines (kept in the form it was sent). Keys
labkeeper does not know are kept as sent, at the top level and in cells.
"""

from __future__ import annotations

from typing import Any

from labkeeper.connections.documents import check_connection_name
from labkeeper.errors import BadRequest
from labkeeper.names import check_name, check_text

QUERY, MARKDOWN = "QUERY", "MARKDOWN"
CELL_TYPES = (QUERY, MARKDOWN)
LANGUAGES = ("SQL",)
MAX_CELLS = 1000
MAX_CODE = 1_000_000
MAX_TAGS = 100
# Computed by the server: accepted in a body (a GET sends them) and ignored.
COMPUTED = ("id", "projectKey", "creationTag", "versionTag")


def _check_code(cell_id: str, code: object) -> str | list[str]:
    if code is None:
        return ""
    if isinstance(code, list):
        if not all(isinstance(line, str) for line in code):
            raise BadRequest(f"Invalid cell {cell_id!r}: code must be a string or a list of strings")
        size = sum(len(line) for line in code)
    elif isinstance(code, str):
        size = len(code)
    else:
        raise BadRequest(f"Invalid cell {cell_id!r}: code must be a string or a list of strings")
    if size > MAX_CODE:
        raise BadRequest(f"Invalid cell {cell_id!r}: code is longer than {MAX_CODE} characters")
    return code


def code_text(code: str | list[str]) -> str:
    return "\n".join(code) if isinstance(code, list) else code


def _check_cell(index: int, cell: object) -> dict[str, Any]:
    if not isinstance(cell, dict):
        raise BadRequest(
            f"Invalid cell #{index}: each cell must be a JSON object with id, type, name and code"
        )
    if "id" not in cell or cell["id"] in (None, ""):
        raise BadRequest(f"Invalid cell #{index}: every cell needs an 'id' (unique in the notebook)")
    cell_id = check_name("cell id", cell["id"])
    cell_type = cell.get("type", QUERY)
    if cell_type not in CELL_TYPES:
        raise BadRequest(f"Invalid cell {cell_id!r}: unknown type {cell_type!r}; use QUERY or MARKDOWN")
    return {
        **cell,
        "id": cell_id,
        "type": cell_type,
        "name": check_text(f"name of cell {cell_id!r}", cell.get("name"), max_length=200),
        "code": _check_code(cell_id, cell.get("code")),
    }


def check_content(body: object) -> dict[str, Any]:
    """The normalised content (without the computed keys), or BadRequest saying what to fix."""
    if not isinstance(body, dict):
        raise BadRequest("SQL notebook content must be a JSON object with 'connection' and 'cells'")
    if body.get("connection") in (None, ""):
        raise BadRequest(
            "SQL notebook content needs a 'connection': the name of the connection its cells run on"
        )
    connection = check_connection_name(body["connection"])
    cells = body.get("cells", [])
    if cells is None:
        cells = []
    if not isinstance(cells, list):
        raise BadRequest("Invalid SQL notebook: 'cells' must be a list of cells")
    if len(cells) > MAX_CELLS:
        raise BadRequest(f"Invalid SQL notebook: at most {MAX_CELLS} cells, got {len(cells)}")
    checked = [_check_cell(i, cell) for i, cell in enumerate(cells)]
    seen: set[str] = set()
    for cell in checked:
        if cell["id"] in seen:
            raise BadRequest(
                f"Invalid SQL notebook: two cells have the id {cell['id']!r}; cell ids must be unique"
            )
        seen.add(cell["id"])
    language = body.get("language") or "SQL"
    if language not in LANGUAGES:
        raise BadRequest(
            f"Invalid SQL notebook language {language!r}: labkeeper runs SQL notebooks in SQL only"
        )
    tags = body.get("tags") or []
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise BadRequest(f"Invalid SQL notebook: 'tags' must be a list of at most {MAX_TAGS} strings")
    content = {key: value for key, value in body.items() if key not in COMPUTED}
    content.update(
        connection=connection,
        cells=checked,
        language=language,
        name=check_text("SQL notebook name", body.get("name"), max_length=200),
        tags=[check_text("tag", tag, max_length=200, allow_empty=False) for tag in tags],
    )
    return content
