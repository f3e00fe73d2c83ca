"""The impersonation resolver and the validation of the rules it reads."""

from __future__ import annotations

import pytest

from labkeeper.errors import NotMatchedOntoSystemUser
from labkeeper.settings.impersonation import resolve
from tests.conftest import Instance


def rules(user: list[dict] = (), group: list[dict] = ()) -> dict:
    return {"userRules": list(user), "groupRules": list(group), "denyTargets": ["root", "postgres"]}


def test_project_rules_first_then_global_then_groups() -> None:
    settings = rules(
        user=[
            {"scope": "GLOBAL", "type": "SINGLE_MAPPING", "dssUser": "alice", "targetUnix": "alice_g"},
            {
                "scope": "PROJECT",
                "projectKey": "P1",
                "type": "SINGLE_MAPPING",
                "dssUser": "alice",
                "targetUnix": "alice_p1",
            },
        ],
        group=[{"type": "SINGLE_MAPPING", "dssGroup": "analysts", "targetUnix": "analyst"}],
    )
    assert resolve(settings, login="alice", groups=["analysts"], project_key="P1").unix_user == "alice_p1"
    assert resolve(settings, login="alice", groups=["analysts"], project_key="P2").unix_user == "alice_g"
    assert resolve(settings, login="bob", groups=["analysts"], project_key="P1").unix_user == "analyst"
    found = resolve(settings, login="bob", groups=["analysts"], project_key=None)
    assert (found.rule_kind, found.rule_index) == ("group", 0)


def test_regexp_rules_match_the_whole_name_and_expand_groups() -> None:
    settings = rules(
        user=[
            {
                "scope": "GLOBAL",
                "type": "REGEXP_RULE",
                "ruleFrom": "ext_(.*)",
                "targetUnix": "u_$1",
                "targetHadoop": "h_$1",
            }
        ]
    )
    found = resolve(settings, login="ext_carol", groups=[], project_key=None)
    assert (found.unix_user, found.hadoop_user) == ("u_carol", "h_carol")
    with pytest.raises(NotMatchedOntoSystemUser):
        resolve(settings, login="x_ext_carol", groups=[], project_key=None)


def test_identity_rules_and_denied_targets() -> None:
    everyone = rules(user=[{"scope": "GLOBAL", "type": "IDENTITY"}])
    assert resolve(everyone, login="dave", groups=[], project_key=None).unix_user == "dave"
    with pytest.raises(NotMatchedOntoSystemUser, match="denied"):
        resolve(everyone, login="postgres", groups=[], project_key=None)
    by_group = rules(group=[{"type": "IDENTITY", "dssGroup": "staff"}])
    assert resolve(by_group, login="erin", groups=["staff"], project_key=None).unix_user == "erin"
    with pytest.raises(NotMatchedOntoSystemUser, match="not matched onto a system user"):
        resolve(by_group, login="erin", groups=["guests"], project_key=None)


@pytest.mark.parametrize(
    ("rule", "complaint"),
    [
        ({"scope": "GLOBAL", "type": "MAGIC", "dssUser": "a"}, "type"),
        ({"scope": "SOMEWHERE", "type": "IDENTITY", "dssUser": "a"}, "scope"),
        ({"scope": "PROJECT", "type": "IDENTITY", "dssUser": "a"}, "projectKey"),
        ({"scope": "GLOBAL", "type": "REGEXP_RULE", "ruleFrom": "(", "targetUnix": "x"}, "ruleFrom"),
        ({"scope": "GLOBAL", "type": "SINGLE_MAPPING", "dssUser": "a", "targetUnix": "root"}, "targetUnix"),
        ({"scope": "GLOBAL", "type": "SINGLE_MAPPING", "dssUser": "a"}, "targetUnix"),
        ({"scope": "GLOBAL", "type": "SINGLE_MAPPING", "targetUnix": "x"}, "dssUser"),
    ],
)
def test_invalid_rules_are_refused_and_nothing_is_stored(
    instance: Instance, rule: dict, complaint: str
) -> None:
    before = instance.admin.get("/admin/general-settings").json()
    doc = instance.admin.get("/admin/general-settings").json()
    doc["impersonation"]["userRules"] = [{"scope": "GLOBAL", "type": "IDENTITY", "dssUser": "ok"}, rule]
    answer = instance.admin.put("/admin/general-settings", json=doc)
    assert answer.status_code == 400
    said = answer.json()["detailedMessage"]
    # The model names a type's misfit (userRules.1.scope), the rule checks the rest (userRules[1]).
    assert ("userRules[1]" in said or "userRules.1." in said) and complaint in said
    assert instance.admin.get("/admin/general-settings").json() == before


def test_resolve_route(instance: Instance) -> None:
    instance.make_user("frank", ["staff"])
    doc = instance.admin.get("/admin/general-settings").json()
    doc["impersonation"]["groupRules"] = [
        {"type": "SINGLE_MAPPING", "dssGroup": "staff", "targetUnix": "lk_staff"}
    ]
    assert instance.admin.put("/admin/general-settings", json=doc).status_code == 204
    answer = instance.admin.get("/admin/impersonation/resolve", params={"user": "frank"}).json()
    assert answer["unixUser"] == "lk_staff" and answer["matchedRule"]["kind"] == "group"
    missing = instance.admin.get("/admin/impersonation/resolve", params={"user": "admin"})
    assert (
        missing.status_code == 403 and "not matched onto a system user" in missing.json()["detailedMessage"]
    )
    assert instance.admin.get("/admin/impersonation/resolve", params={"user": "nobody"}).status_code == 404
