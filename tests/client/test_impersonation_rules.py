"""Impersonation rule builders and filters behave exactly as the official client's do:
the same calls are made on both and the resulting rule dicts compared."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import dataikuapi.dss.admin as official
import pytest

from labkeeper.client import DSSGeneralSettings, DSSGroupImpersonationRule, DSSUserImpersonationRule
from tests.client.recording import Recorder

USER_RULES = [
    {
        "scope": "GLOBAL",
        "type": "SINGLE_MAPPING",
        "dssUser": "alice",
        "targetUnix": "u_alice",
        "targetHadoop": None,
    },
    {
        "scope": "PROJECT",
        "projectKey": "P1",
        "type": "SINGLE_MAPPING",
        "dssUser": "alice",
        "targetUnix": "u_p1",
    },
    {
        "scope": "GLOBAL",
        "type": "REGEXP_RULE",
        "ruleFrom": "(.*)@corp",
        "targetUnix": "$1",
        "targetHadoop": "h$1",
    },
    {"type": "IDENTITY", "dssUser": "bob"},  # no scope field at all
    {"scope": "PROJECT", "projectKey": "P2", "type": "IDENTITY", "dssUser": "carol"},
]
GROUP_RULES = [
    {"type": "SINGLE_MAPPING", "dssGroup": "analysts", "targetUnix": "u_alice", "targetHadoop": None},
    {"type": "REGEXP_RULE", "ruleFrom": "(.*)@corp", "targetUnix": "g_$1"},
    {"type": "IDENTITY", "dssGroup": "ops"},
]
DOC = {"impersonation": {"userRules": USER_RULES, "groupRules": GROUP_RULES}, "other": {"x": 1}}

FILTER_VALUES: dict[str, list[Any]] = {
    "dss_user": [None, "alice", "bob"],
    "dss_group": [None, "analysts"],
    "unix_user": [None, "u_alice"],
    "hadoop_user": [None, "h$1"],
    "project_key": [None, "P1"],
    "scope": [None, "GLOBAL", "PROJECT"],
    "rule_type": [None, "IDENTITY", "SINGLE_MAPPING"],
    "is_user": [None, True, False],
    "rule_from": [None, "(.*)@corp"],
}


def _filter_grid() -> list[dict[str, Any]]:
    """Every single filter, and every pair of filters, with each of their values."""
    grid: list[dict[str, Any]] = [{}]
    names = list(FILTER_VALUES)
    for size in (1, 2):
        for chosen in itertools.combinations(names, size):
            for values in itertools.product(*(FILTER_VALUES[n][1:] for n in chosen)):
                grid.append(dict(zip(chosen, values, strict=True)))
    return grid


def _ours(doc: dict[str, Any]) -> DSSGeneralSettings:
    return Recorder({("GET", "/admin/general-settings"): copy.deepcopy(doc)}).client().get_general_settings()


def _theirs(doc: dict[str, Any]) -> official.DSSGeneralSettings:
    settings = official.DSSGeneralSettings.__new__(official.DSSGeneralSettings)
    settings.client = None
    settings.settings = copy.deepcopy(doc)
    return settings


def _described(rules: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("user" if "User" in type(rule).__name__ else "group", rule.raw) for rule in rules]


@pytest.mark.parametrize("filters", _filter_grid(), ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()))
def test_get_and_remove_select_the_same_rules(filters: dict[str, Any]) -> None:
    ours, theirs = _ours(DOC), _theirs(DOC)
    assert _described(ours.get_impersonation_rules(**filters)) == _described(
        theirs.get_impersonation_rules(**filters)
    )
    ours.remove_impersonation_rules(**filters)
    theirs.remove_impersonation_rules(**filters)
    assert ours.get_raw() == theirs.settings


def test_positional_filter_order_matches() -> None:
    args = ("alice", "analysts", "u_alice", None, None, "GLOBAL", "SINGLE_MAPPING", None, None)
    assert _described(_ours(DOC).get_impersonation_rules(*args)) == _described(
        _theirs(DOC).get_impersonation_rules(*args)
    )


def test_returned_rules_wrap_the_stored_dicts() -> None:
    settings = _ours(DOC)
    [rule] = settings.get_impersonation_rules(dss_user="bob")[:1]
    rule.raw["targetHadoop"] = "hb"
    assert settings.get_raw()["impersonation"]["userRules"][3]["targetHadoop"] == "hb"


BUILDERS = [
    ("user", lambda m: m.DSSUserImpersonationRule()),
    ("user", lambda m: m.DSSUserImpersonationRule().user_identity()),
    ("user", lambda m: m.DSSUserImpersonationRule().scope_project("P").user_single("a", "u")),
    (
        "user",
        lambda m: m.DSSUserImpersonationRule().scope_project("P").scope_global().user_single("a", "u", "h"),
    ),
    ("user", lambda m: m.DSSUserImpersonationRule().user_regexp("(.*)", "$1", hadoop_user="h$1")),
    (
        "user",
        lambda m: m.DSSUserImpersonationRule({"scope": "GLOBAL", "type": "IDENTITY", "x": 1}).user_identity(),
    ),
    ("group", lambda m: m.DSSGroupImpersonationRule()),
    ("group", lambda m: m.DSSGroupImpersonationRule().group_identity()),
    ("group", lambda m: m.DSSGroupImpersonationRule().group_single("g", "u")),
    ("group", lambda m: m.DSSGroupImpersonationRule().group_regexp("(.*)", "g_$1", "h")),
]


class _OurModule:
    DSSUserImpersonationRule = DSSUserImpersonationRule
    DSSGroupImpersonationRule = DSSGroupImpersonationRule


@pytest.mark.parametrize(("kind", "build"), BUILDERS)
def test_builders_produce_the_same_rules(kind: str, build: Any) -> None:
    ours, theirs = build(_OurModule), build(official)
    assert ours.raw == theirs.raw
    for settings_ours, settings_theirs in [(_ours(DOC), _theirs(DOC))]:
        settings_ours.add_impersonation_rule(ours)
        settings_theirs.add_impersonation_rule(theirs)
        settings_ours.add_impersonation_rule(dict(ours.raw), is_user_rule=kind == "user")
        settings_theirs.add_impersonation_rule(dict(theirs.raw), is_user_rule=kind == "user")
        assert settings_ours.get_raw() == settings_theirs.settings


def test_add_then_remove_restores_the_document() -> None:
    settings = _ours(DOC)
    settings.add_impersonation_rule(
        DSSUserImpersonationRule().scope_project("PX").user_single("zed", "u_zed")
    )
    settings.add_impersonation_rule(DSSGroupImpersonationRule().group_single("zgroup", "u_zg"))
    assert len(settings.get_impersonation_rules(dss_user="zed", is_user=True)) == 1
    settings.remove_impersonation_rules(dss_user="zed", is_user=True)
    settings.remove_impersonation_rules(dss_group="zgroup", is_user=False)
    assert settings.get_raw() == DOC
