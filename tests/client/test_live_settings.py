"""General settings, impersonation rules, variables, audit and error mapping, with
labkeeper's client against a live server, cross-checked with the official client."""

from __future__ import annotations

import copy
import time

import pytest

from labkeeper.client import (
    BadRequestError,
    DSSClient,
    DSSGroupImpersonationRule,
    DSSInstanceVariables,
    DSSUserImpersonationRule,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from tests.conftest import LiveServer


def test_impersonation_rule_round_trip(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    settings = lk.get_general_settings()
    before = copy.deepcopy(settings.get_raw())
    settings.add_impersonation_rule(
        DSSUserImpersonationRule().scope_project("PROJ").user_single("alice", "u_alice")
    )
    settings.add_impersonation_rule(DSSUserImpersonationRule().user_regexp("(.*)_ext", "x_$1"))
    settings.add_impersonation_rule(
        DSSGroupImpersonationRule().group_single("analysts", "u_analysts", "h_an")
    )
    settings.save()

    again = lk.get_general_settings()
    assert again.get_raw() == dss.get_general_settings().get_raw()
    [project_rule] = again.get_impersonation_rules(dss_user="alice", is_user=True)
    assert project_rule.raw["projectKey"] == "PROJ" and project_rule.raw["targetUnix"] == "u_alice"
    [group_rule] = again.get_impersonation_rules(dss_group="analysts", is_user=False)
    assert group_rule.raw["targetHadoop"] == "h_an"
    assert len(again.get_impersonation_rules(rule_type="REGEXP_RULE")) == 1

    again.remove_impersonation_rules(dss_user="alice", is_user=True)
    again.remove_impersonation_rules(rule_type="REGEXP_RULE", is_user=True)
    again.remove_impersonation_rules(dss_group="analysts", is_user=False)
    again.save()
    assert lk.get_general_settings().get_raw() == before


def test_rules_saved_by_one_client_are_read_by_the_other(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    import dataikuapi.dss.admin as official

    theirs = dss.get_general_settings()
    theirs.add_impersonation_rule(official.DSSUserImpersonationRule().user_single("bob", "u_bob"))
    theirs.save()
    ours = lk.get_general_settings()
    assert [r.raw for r in ours.get_impersonation_rules(dss_user="bob")] == [
        r.raw for r in theirs.get_impersonation_rules(dss_user="bob")
    ]


def test_invalid_rule_is_a_bad_request_and_nothing_is_written(lk: DSSClient) -> None:
    settings = lk.get_general_settings()
    before = copy.deepcopy(settings.get_raw())
    settings.add_impersonation_rule(DSSUserImpersonationRule().user_single("carol", "root"))
    with pytest.raises(BadRequestError) as caught:
        settings.save()
    assert caught.value.status_code == 400
    assert "root" in str(caught.value)
    assert lk.get_general_settings().get_raw() == before


def test_resolve_impersonation(lk: DSSClient, live: LiveServer) -> None:
    lk.create_group("analysts")
    lk.create_user("dana", "pw-dana-123", groups=["analysts"])
    settings = lk.get_general_settings()
    settings.add_impersonation_rule(DSSGroupImpersonationRule().group_single("analysts", "u_analysts"))
    settings.save()
    resolved = lk.resolve_impersonation("dana")
    assert resolved["unixUser"] == "u_analysts"
    assert resolved["matchedRule"]["kind"] == "group"

    settings = lk.get_general_settings()
    settings.add_impersonation_rule(DSSUserImpersonationRule().user_single("dana", "u_dana"))
    settings.save()
    assert lk.resolve_impersonation("dana")["unixUser"] == "u_dana"

    with pytest.raises(NotFoundError):
        lk.resolve_impersonation("nobody-here")
    lk.create_user("erin", "pw-erin-123")
    with pytest.raises(ForbiddenError) as caught:
        lk.resolve_impersonation("erin")
    assert caught.value.error_type == "NotMatchedOntoSystemUserException"


def test_instance_variables_round_trip(lk: DSSClient, dss) -> None:  # type: ignore[no-untyped-def]
    variables = lk.get_global_variables()
    assert isinstance(variables, DSSInstanceVariables)
    variables["region"] = "eu"
    variables["limits"] = {"rows": 10, "flags": [True, None]}
    variables.save()
    assert lk.get_global_variables() == {"region": "eu", "limits": {"rows": 10, "flags": [True, None]}}
    assert dss.get_global_variables() == lk.get_global_variables()
    again = lk.get_global_variables()
    del again["region"]
    again.save()
    assert lk.get_global_variables() == {"limits": {"rows": 10, "flags": [True, None]}}


def test_audit_log(lk: DSSClient) -> None:
    start = int(time.time() * 1000) - 1000
    lk.log_custom_audit("backup-done", {"files": 3})
    lk.log_custom_audit("backup-checked")
    events = lk.get_audit_log(since=start)
    custom = [e for e in events if e["action"].startswith("custom:backup")]
    assert [e["action"] for e in custom] == ["custom:backup-checked", "custom:backup-done"]
    assert custom[1]["details"] == {"files": 3}
    assert len(lk.get_audit_log(limit=1)) == 1
    assert lk.get_audit_log(limit=1, offset=1)[0]["id"] == lk.get_audit_log(limit=2)[1]["id"]
    assert lk.get_audit_log(since=int(time.time() * 1000) + 3_600_000) == []


def test_error_classes_against_the_server(live: LiveServer, lk: DSSClient) -> None:
    with DSSClient(live.url, "lk_not_a_real_key_000000000000") as stranger:
        with pytest.raises(UnauthorizedError) as caught:
            stranger.get_general_settings()
    assert caught.value.status_code == 401
    assert str(caught.value).startswith(f"{caught.value.error_type}: ")

    lk.create_user("frank", "pw-frank-123")
    key = lk.create_personal_api_key_for_user("frank", "frank's key", as_type="dict")
    with DSSClient(live.url, key["key"]) as frank:
        with pytest.raises(ForbiddenError):
            frank.get_general_settings()
    with pytest.raises(NotFoundError):
        lk.get_user("no-such-user").get_settings()


def test_one_connection_serves_many_calls(lk: DSSClient) -> None:
    for _ in range(20):
        lk.get_global_variables()
    pool = lk._http._transport._pool  # type: ignore[attr-defined]
    assert len(pool.connections) == 1


def test_identity_rules_from_the_builders_are_accepted(lk: DSSClient) -> None:
    settings = lk.get_general_settings()
    settings.add_impersonation_rule(DSSUserImpersonationRule().user_identity())
    settings.add_impersonation_rule(DSSGroupImpersonationRule().group_identity())
    settings.save()
    assert len(lk.get_general_settings().get_impersonation_rules(rule_type="IDENTITY")) == 2
    # Such a rule maps every user onto the UNIX account of the same name.
    assert lk.resolve_impersonation("admin")["unixUser"] == "admin"
