"""The official dataikuapi client against a live labkeeper: connections."""

from __future__ import annotations

import dataikuapi
import pytest
from dataikuapi.dss.admin import (
    DSSConnection,
    DSSConnectionInfo,
    DSSConnectionListItem,
    DSSConnectionSettings,
)
from dataikuapi.utils import DataikuException

from labkeeper.connections.documents import MASK
from labkeeper.connections.service import DEFAULT_CONNECTION, spec_for_use
from tests.conftest import Instance

PG = {"host": "127.0.0.1", "port": 5432, "db": "test", "user": "postgres", "password": "pw-Conformance-1"}


def test_list_create_settings_save_info_test_delete(dss, live) -> None:  # type: ignore[no-untyped-def]
    listed = dss.list_connections()
    assert isinstance(listed[DEFAULT_CONNECTION], DSSConnectionListItem)
    assert (
        listed[DEFAULT_CONNECTION].name == DEFAULT_CONNECTION and listed[DEFAULT_CONNECTION].type == "SQLite"
    )

    handle = dss.create_connection(
        "pg-conf",
        "PostgreSQL",
        params=dict(PG),
        usable_by="ALLOWED",
        allowed_groups=["dba"],
        description="conf",
    )
    assert isinstance(handle, DSSConnection) and handle.name == "pg-conf"
    assert [c.name for c in dss.list_connections(as_type="listitems")] == [DEFAULT_CONNECTION, "pg-conf"]
    assert [c.name for c in dss.list_connections(as_type="objects")] == [DEFAULT_CONNECTION, "pg-conf"]
    assert dss.list_connections()["pg-conf"].to_connection().name == "pg-conf"

    settings = dss.get_connection("pg-conf").get_settings()
    assert isinstance(settings, DSSConnectionSettings)
    assert settings.type == "PostgreSQL"
    assert settings.usable_by == "ALLOWED" and settings.usable_by_allowed_groups == ["dba"]
    assert settings.get_raw()["params"]["password"] == MASK and settings.get_raw()["description"] == "conf"
    assert settings.allow_write is True and settings.allow_managed_datasets is True
    assert settings.allow_managed_folders is False and settings.allow_knowledge_banks is False
    assert settings.details_readability.readable_by == "NONE"

    settings.set_usability(False, "dba", "analysts")
    settings.allow_write = False
    settings.allow_managed_folders = True
    settings.allow_knowledge_banks = True
    settings.allow_managed_datasets = False
    settings.details_readability.set_readability(False, "dba")
    settings.save()
    again = dss.get_connection("pg-conf").get_settings()
    assert again.usable_by_allowed_groups == ["dba", "analysts"]
    assert (again.allow_write, again.allow_managed_folders, again.allow_knowledge_banks) == (
        False,
        True,
        True,
    )
    assert again.allow_managed_datasets is False
    assert (
        again.details_readability.readable_by == "ALLOWED"
        and again.details_readability.allowed_groups == ["dba"]
    )
    # Saving the masked password kept the real one.
    assert spec_for_use(live.store, live.config.data_dir, "pg-conf").password == PG["password"]

    settings.set_usability(True)
    settings.details_readability.set_readability(False)
    settings.save()
    assert dss.get_connection("pg-conf").get_settings().usable_by == "ALL"
    assert dss.get_connection("pg-conf").get_settings().details_readability.readable_by == "NONE"

    definition = dss.get_connection("pg-conf").get_definition()
    definition["description"] = "via set_definition"
    dss.get_connection("pg-conf").set_definition(definition)
    assert dss.get_connection("pg-conf").get_definition()["description"] == "via set_definition"

    info = dss.get_connection("pg-conf").get_info()
    assert isinstance(info, DSSConnectionInfo)
    assert info.get_type() == "PostgreSQL" and info.get_credential_mode() == "GLOBAL"
    assert info.get_params()["host"] == "127.0.0.1" and info.get_resolved_params()["db"] == "test"
    assert PG["password"] not in str(info)
    with pytest.raises(ValueError):
        info.get_basic_credential()
    assert dss.get_connection("pg-conf").get_info(contextual_project_key="ANY").get_type() == "PostgreSQL"

    assert dss.get_connection("pg-conf").test()["connectionOK"] is True
    assert dss.get_connection(DEFAULT_CONNECTION).test()["connectionOK"] is True
    assert dss.list_connections_names("PostgreSQL") == ["pg-conf"]
    assert dss.list_connections_names("all") == [DEFAULT_CONNECTION, "pg-conf"]

    dss.get_connection("pg-conf").delete()
    with pytest.raises(DataikuException, match="NotFound"):
        dss.get_connection("pg-conf").get_settings()
    assert "pg-conf" not in dss.list_connections()


def test_bad_input_and_permissions_are_refused(dss, live) -> None:  # type: ignore[no-untyped-def]
    for name in ("a/b", "..", "x/../y"):
        with pytest.raises(DataikuException, match="BadRequest"):
            dss.create_connection(name, "SQLite", params={"path": "x.db"})
    with pytest.raises(DataikuException, match="BadRequest"):
        dss.create_connection("lite", "SQLite", params={"path": "../../outside.db"})
    with pytest.raises(DataikuException, match="BadRequest"):
        dss.create_connection("lite", "Oracle", params={})
    dss.create_connection("lite", "SQLite", params={"path": "sub/conf.db"})
    with pytest.raises(DataikuException, match="Conflict"):
        dss.create_connection("lite", "SQLite", params={"path": "sub/conf.db"})

    secret = Instance.make_user(live, "ursula", ["users"])
    user = dataikuapi.DSSClient(live.url, secret)
    with pytest.raises(DataikuException, match="Unauthorized"):
        user.list_connections()
    with pytest.raises(DataikuException, match="Unauthorized"):
        user.create_connection("mine", "SQLite", params={"path": "mine.db"})
    assert user.list_connections_names("all") == ["lite", DEFAULT_CONNECTION]
    assert user.get_connection("lite").get_info().get_type() == "SQLite"
