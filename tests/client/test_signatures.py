"""Every method labkeeper's client shares with the official client takes the same
parameters, in the same order, with the same defaults, so scripts call it unchanged."""

from __future__ import annotations

import inspect

import dataikuapi
import dataikuapi.dss.admin as official_admin
import dataikuapi.dss.project as official_project
import pytest

import labkeeper.client as ours

PAIRS = {
    "DSSClient": dataikuapi.DSSClient,
    "DSSUser": official_admin.DSSUser,
    "DSSUserSettingsBase": official_admin.DSSUserSettingsBase,
    "DSSUserSettings": official_admin.DSSUserSettings,
    "DSSOwnUser": official_admin.DSSOwnUser,
    "DSSOwnUserSettings": official_admin.DSSOwnUserSettings,
    "DSSGroup": official_admin.DSSGroup,
    "DSSGeneralSettings": official_admin.DSSGeneralSettings,
    "DSSUserImpersonationRule": official_admin.DSSUserImpersonationRule,
    "DSSGroupImpersonationRule": official_admin.DSSGroupImpersonationRule,
    "DSSInstanceVariables": official_admin.DSSInstanceVariables,
    "DSSGlobalApiKey": official_admin.DSSGlobalApiKey,
    "DSSGlobalApiKeyDefinition": official_admin.DSSGlobalApiKeyDefinition,
    "DSSGlobalApiKeyListItem": official_admin.DSSGlobalApiKeyListItem,
    "DSSPersonalApiKey": official_admin.DSSPersonalApiKey,
    "DSSPersonalApiKeyListItem": official_admin.DSSPersonalApiKeyListItem,
    "DSSGlobalUsageSummary": official_admin.DSSGlobalUsageSummary,
    "DSSProject": official_project.DSSProject,
    "DSSProjectSettings": official_project.DSSProjectSettings,
}

# Where labkeeper deliberately differs: None instead of a shared mutable [] default, and
# the client's own keyword-only options (timeout, a transport for tests).
MUTABLE_DEFAULTS = {("DSSClient", "create_project", "tags")}
EXTRA_KEYWORD_ONLY = {("DSSClient", "__init__"): {"timeout", "transport"}}


def _shared_members(name: str) -> list[str]:
    theirs = PAIRS[name]
    mine = getattr(ours, name)
    return sorted(
        member
        for member in vars(theirs)
        if (not member.startswith("_") or member == "__init__") and hasattr(mine, member)
    )


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_shared_methods_have_the_official_signature(name: str) -> None:
    theirs, mine = PAIRS[name], getattr(ours, name)
    checked = 0
    for member in _shared_members(name):
        their_attr, my_attr = inspect.getattr_static(theirs, member), inspect.getattr_static(mine, member)
        if isinstance(their_attr, property):
            assert isinstance(my_attr, property), f"{name}.{member} must be a property"
            assert (their_attr.fset is None) == (my_attr.fset is None), f"{name}.{member} settable differs"
            checked += 1
            continue
        if not callable(their_attr):
            continue
        their_params = list(inspect.signature(their_attr).parameters.values())
        extra = EXTRA_KEYWORD_ONLY.get((name, member), set())
        my_params = [p for p in inspect.signature(my_attr).parameters.values() if p.name not in extra]
        assert [p.name for p in my_params] == [p.name for p in their_params], f"{name}.{member}"
        for theirs_p, mine_p in zip(their_params, my_params, strict=True):
            assert mine_p.kind == theirs_p.kind, f"{name}.{member}({mine_p.name}) kind"
            if (name, member, mine_p.name) in MUTABLE_DEFAULTS:
                assert theirs_p.default == [] and mine_p.default is None
            else:
                assert mine_p.default == theirs_p.default, f"{name}.{member}({mine_p.name}) default"
        checked += 1
    assert checked, f"nothing compared for {name}"
