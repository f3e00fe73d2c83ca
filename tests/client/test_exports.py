"""The public surface of labkeeper.client is exactly this list, importable from the package."""

import importlib

import labkeeper.client as client

EXPORTED = {
    "BadRequestError",
    "ConflictError",
    "DSSClient",
    "DSSGeneralSettings",
    "DSSGlobalApiKey",
    "DSSGlobalApiKeyDefinition",
    "DSSGlobalApiKeyListItem",
    "DSSGlobalUsageSummary",
    "DSSGroup",
    "DSSGroupImpersonationRule",
    "DSSInstanceVariables",
    "DSSOwnUser",
    "DSSOwnUserSettings",
    "DSSPersonalApiKey",
    "DSSPersonalApiKeyListItem",
    "DSSProject",
    "DSSProjectSettings",
    "DSSUser",
    "DSSUserImpersonationRule",
    "DSSUserSettings",
    "DSSUserSettingsBase",
    "DataikuException",
    "ForbiddenError",
    "NotFoundError",
    "TooManyRequestsError",
    "UnauthorizedError",
}
# Names other engineers add to the package (the futures handle, the env-built client).
LATER = {"DSSFuture", "api_client"}
# Jupyter notebooks and the in-kernel client (the notebooks engineer's _jupyter and _environment).
LATER |= {
    "DSSJupyterNotebook",
    "DSSJupyterNotebookContent",
    "DSSJupyterNotebookListItem",
    "DSSNotebook",
    "DSSNotebookSession",
    "default_project_key",
}
# Connections and SQL notebooks (their own engineer's modules, _connections and _sqlnotebooks).
LATER |= {
    "DSSConnection",
    "DSSConnectionDetailsReadability",
    "DSSConnectionInfo",
    "DSSConnectionListItem",
    "DSSConnectionSettings",
    "DSSNotebookContent",
    "DSSNotebookHistory",
    "DSSNotebookQueryRunListItem",
    "DSSSQLNotebook",
    "DSSSQLNotebookContent",
    "DSSSQLNotebookListItem",
}

# Futures and code envs (their engineer's _futures and _codeenvs).
LATER |= {"CodeEnvOperationError", "DSSCodeEnv", "DSSDesignCodeEnvSettings"}


def test_exported_names_are_pinned() -> None:
    assert set(client.__all__) - LATER == EXPORTED
    assert len(client.__all__) == len(set(client.__all__))


def test_every_exported_name_is_importable_and_public_modules_are_private() -> None:
    for name in client.__all__:
        obj = getattr(client, name)
        module = getattr(obj, "__module__", "labkeeper.client._")
        assert module.startswith("labkeeper.client._"), (name, module)


def test_official_names_exist_on_the_same_classes() -> None:
    """Spot-check that the documented DSS method names are where scripts look for them."""
    expected = {
        "DSSClient": [
            "list_users",
            "get_user",
            "create_user",
            "get_own_user",
            "list_groups",
            "get_group",
            "create_group",
            "get_general_settings",
            "get_global_variables",
            "get_variables",
            "set_variables",
            "get_resolved_variables",
            "list_global_api_keys",
            "get_global_api_key",
            "get_global_api_key_by_id",
            "create_global_api_key",
            "create_global_api_key_with_groups",
            "list_personal_api_keys",
            "get_personal_api_key",
            "create_personal_api_key",
            "list_all_personal_api_keys",
            "create_personal_api_key_for_user",
            "list_project_keys",
            "list_projects",
            "get_project",
            "create_project",
            "get_global_usage_summary",
            "log_custom_audit",
            "get_audit_log",
            "resolve_impersonation",
        ],
        "DSSGeneralSettings": [
            "get_raw",
            "save",
            "add_impersonation_rule",
            "get_impersonation_rules",
            "remove_impersonation_rules",
        ],
        "DSSProject": [
            "get_summary",
            "get_metadata",
            "set_metadata",
            "get_settings",
            "get_permissions",
            "set_permissions",
            "get_variables",
            "set_variables",
            "update_variables",
            "delete",
            "list_datasets",
            "list_recipes",
            "list_scenarios",
        ],
        "DSSProjectSettings": ["get_raw", "save", "set_python_code_env", "set_r_code_env"],
    }
    for cls_name, methods in expected.items():
        cls = getattr(client, cls_name)
        missing = [m for m in methods if not callable(getattr(cls, m, None))]
        assert not missing, (cls_name, missing)


def test_package_modules_import_cleanly() -> None:
    for module in (
        "_http",
        "_exceptions",
        "_client",
        "_users",
        "_settings",
        "_apikeys",
        "_projects",
        "_usage",
    ):
        importlib.import_module(f"labkeeper.client.{module}")
