"""labkeeper's client classes for SQL notebooks and connections take the parameters of the
official ones (same names, order, kinds and defaults), so scripts call them unchanged."""

from __future__ import annotations

import inspect

import dataikuapi
import dataikuapi.dss.admin as official_admin
import dataikuapi.dss.project as official_project
import dataikuapi.dss.sqlnotebook as official_sql
import pytest

import labkeeper.client as ours

PAIRS = {
    "DSSSQLNotebook": official_sql.DSSSQLNotebook,
    "DSSSQLNotebookListItem": official_sql.DSSSQLNotebookListItem,
    "DSSNotebookContent": official_sql.DSSNotebookContent,
    "DSSNotebookHistory": official_sql.DSSNotebookHistory,
    "DSSNotebookQueryRunListItem": official_sql.DSSNotebookQueryRunListItem,
    "DSSConnection": official_admin.DSSConnection,
    "DSSConnectionListItem": official_admin.DSSConnectionListItem,
    "DSSConnectionInfo": official_admin.DSSConnectionInfo,
    "DSSConnectionSettings": official_admin.DSSConnectionSettings,
    "DSSConnectionDetailsReadability": official_admin.DSSConnectionDetailsReadability,
}
# Methods the official classes have that labkeeper leaves out on purpose.
NOT_OFFERED = {
    ("DSSSQLNotebook", "get_object_discussions"),
    ("DSSConnection", "list_local_models"),
    ("DSSConnection", "get_local_model"),
    ("DSSConnection", "sync_root_acls"),
    ("DSSConnection", "sync_datasets_acls"),
}


def _compare(theirs: object, mine: object, label: str) -> None:
    if isinstance(theirs, property):
        assert isinstance(mine, property), f"{label} must be a property"
        assert (theirs.fset is None) == (mine.fset is None), f"{label}: settable differs"
        return
    their_params = list(inspect.signature(theirs).parameters.values())  # type: ignore[arg-type]
    my_params = list(inspect.signature(mine).parameters.values())  # type: ignore[arg-type]
    assert [p.name for p in my_params] == [p.name for p in their_params], label
    for their_p, my_p in zip(their_params, my_params, strict=True):
        assert (my_p.kind, my_p.default) == (their_p.kind, their_p.default), f"{label}({my_p.name})"


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_every_documented_member_is_there_with_the_official_signature(name: str) -> None:
    theirs, mine = PAIRS[name], getattr(ours, name)
    for member in vars(theirs):
        if (member.startswith("_") and member != "__init__") or (name, member) in NOT_OFFERED:
            continue
        their_attr = inspect.getattr_static(theirs, member)
        if not (callable(their_attr) or isinstance(their_attr, property)):
            continue
        assert hasattr(mine, member), f"{name}.{member} is missing"
        _compare(their_attr, inspect.getattr_static(mine, member), f"{name}.{member}")


@pytest.mark.parametrize(
    ("ours_owner", "theirs_owner", "members"),
    [
        (
            ours.DSSProject,
            official_project.DSSProject,
            ["list_sql_notebooks", "get_sql_notebook", "create_sql_notebook"],
        ),
        (
            ours.DSSClient,
            dataikuapi.DSSClient,
            ["list_connections", "list_connections_names", "get_connection", "create_connection"],
        ),
    ],
)
def test_project_and_client_methods(ours_owner: type, theirs_owner: type, members: list[str]) -> None:
    for member in members:
        _compare(
            getattr(theirs_owner, member), getattr(ours_owner, member), f"{ours_owner.__name__}.{member}"
        )


def test_the_content_class_has_its_second_name() -> None:
    assert ours.DSSSQLNotebookContent is ours.DSSNotebookContent
