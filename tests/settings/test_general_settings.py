from tests.conftest import Instance


def test_fresh_instance_has_complete_defaults(instance: Instance) -> None:
    doc = instance.admin.get("/admin/general-settings").json()
    assert doc["impersonation"]["userRules"] == []
    assert set(doc) >= {"impersonation", "codeEnvs", "notebooks", "sqlNotebooks", "futures", "apiKeys"}


def test_unknown_keys_are_kept(instance: Instance) -> None:
    doc = instance.admin.get("/admin/general-settings").json()
    doc["somethingLabkeeperIgnores"] = {"nested": [1, 2]}
    doc["codeEnvs"]["aKeyFromElsewhere"] = "kept"
    assert instance.admin.put("/admin/general-settings", json=doc).status_code == 204
    again = instance.admin.get("/admin/general-settings").json()
    assert again["somethingLabkeeperIgnores"] == {"nested": [1, 2]}
    assert again["codeEnvs"]["aKeyFromElsewhere"] == "kept"
