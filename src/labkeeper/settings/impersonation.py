"""Which UNIX (and Hadoop) user a DSS user's code runs as, in a given project.

Order: project-scoped user rules for that project, then global user rules, then group
rules for each of the user's groups; within each, list order; the first match wins.

REGEXP_RULE patterns are matched with the `regex` module and a time bound: Python's `re`
cannot be interrupted, so a pattern like `(a|a)+b` would hold the thread (and, on the event
loop, the server) for ever. One resolution takes at most RESOLVE_SECONDS in all; a rule
that runs out of time is an error naming it, never a silent non-match.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import regex

from labkeeper.errors import BadRequest, NotMatchedOntoSystemUser

RESOLVE_SECONDS = 1.0


def rule_fullmatch(pattern: str, subject: str, *, timeout: float) -> regex.Match[str] | None:
    """`pattern` fully matched against `subject`; TimeoutError past `timeout` seconds."""
    return regex.fullmatch(pattern, subject, timeout=max(timeout, 0.001))


@dataclass(frozen=True)
class Resolution:
    unix_user: str
    hadoop_user: str | None
    rule_kind: str  # "user" or "group"
    rule_index: int
    rule: dict[str, Any]

    def as_json(self, login: str, project_key: str | None) -> dict[str, Any]:
        return {
            "user": login,
            "projectKey": project_key,
            "unixUser": self.unix_user,
            "hadoopUser": self.hadoop_user,
            "matchedRule": {"kind": self.rule_kind, "index": self.rule_index, "rule": self.rule},
        }


def _apply(
    rule: dict[str, Any], subject_key: str, name: str, login: str, deadline: float, where: str
) -> tuple[str, str | None] | None:
    """Apply one rule to a subject `name` (the login, or one of the user's groups)."""
    kind = rule.get("type")
    if kind == "IDENTITY":
        # The user runs as the UNIX account of the same name; a rule without a subject
        # applies to everyone.
        if rule.get(subject_key) not in (None, "", name):
            return None
        return login, rule.get("targetHadoop") or login
    if kind == "SINGLE_MAPPING":
        if rule.get(subject_key) != name:
            return None
        return rule["targetUnix"], rule.get("targetHadoop")
    if kind == "REGEXP_RULE":
        try:
            match = rule_fullmatch(rule["ruleFrom"], name, timeout=deadline - time.monotonic())
        except TimeoutError:
            raise BadRequest(
                f"Impersonation rule {where} (field 'ruleFrom') took too long to match {name!r}: "
                "simplify its regular expression (avoid nested or overlapping repetitions)"
            ) from None
        if match is None:
            return None
        unix = match.expand(_to_python_template(rule["targetUnix"]))
        hadoop = rule.get("targetHadoop")
        return unix, match.expand(_to_python_template(hadoop)) if hadoop else None
    return None


def _to_python_template(target: str) -> str:
    """`$1` (DSS) becomes `\\1` (Python) and a literal backslash stays literal."""
    return re.sub(r"\$(\d+)", r"\\g<\1>", target.replace("\\", "\\\\"))


def resolve(
    impersonation: dict[str, Any], *, login: str, groups: list[str], project_key: str | None
) -> Resolution:
    deny = set(impersonation.get("denyTargets") or []) | {"root"}
    user_rules = list(enumerate(impersonation.get("userRules") or []))
    project_rules = [
        (i, r)
        for i, r in user_rules
        if r.get("scope") == "PROJECT" and project_key and r.get("projectKey") == project_key
    ]
    global_rules = [(i, r) for i, r in user_rules if r.get("scope", "GLOBAL") == "GLOBAL"]
    deadline = time.monotonic() + RESOLVE_SECONDS
    for index, rule in [*project_rules, *global_rules]:
        hit = _apply(rule, "dssUser", login, login, deadline, f"impersonation.userRules[{index}]")
        if hit:
            return _checked(Resolution(hit[0], hit[1], "user", index, rule), deny, login)
    for index, rule in enumerate(impersonation.get("groupRules") or []):
        for group in groups or ([""] if not rule.get("dssGroup") else []):
            hit = _apply(rule, "dssGroup", group, login, deadline, f"impersonation.groupRules[{index}]")
            if hit:
                return _checked(Resolution(hit[0], hit[1], "group", index, rule), deny, login)
    where = f" in project {project_key}" if project_key else ""
    raise NotMatchedOntoSystemUser(
        f"User {login} is not matched onto a system user{where}",
        detail=f"User {login} is not matched onto a system user{where}: an admin must add a user "
        "impersonation rule for this user (or a group rule for one of their groups) in the "
        "general settings (impersonation.userRules / impersonation.groupRules)",
    )


def _checked(resolution: Resolution, deny: set[str], login: str) -> Resolution:
    if resolution.unix_user in deny or not resolution.unix_user:
        raise NotMatchedOntoSystemUser(
            f"User {login} maps onto {resolution.unix_user!r}, which is denied as an impersonation target",
        )
    return resolution
