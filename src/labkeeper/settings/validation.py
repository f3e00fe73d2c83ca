"""Checks a general settings document before anything is stored."""

from __future__ import annotations

import re
from typing import Any

from labkeeper.errors import BadRequest

RULE_TYPES = ("IDENTITY", "SINGLE_MAPPING", "REGEXP_RULE")
SCOPES = ("GLOBAL", "PROJECT")
_UNIX_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")


def validate_general_settings(doc: dict[str, Any]) -> None:
    imp = doc.get("impersonation")
    if not isinstance(imp, dict):
        raise BadRequest("general settings: 'impersonation' must be an object")
    deny = imp.get("denyTargets", ["root"])
    if not isinstance(deny, list) or not all(isinstance(d, str) for d in deny):
        raise BadRequest("general settings: 'impersonation.denyTargets' must be a list of names")
    if not isinstance(imp.get("enabled", False), bool):
        raise BadRequest("general settings: 'impersonation.enabled' must be true or false")
    for field in ("userRules", "groupRules"):
        rules = imp.get(field)
        if not isinstance(rules, list):
            raise BadRequest(f"general settings: 'impersonation.{field}' must be a list")
        for index, rule in enumerate(rules):
            _validate_rule(
                rule,
                f"impersonation.{field}[{index}]",
                is_user=field == "userRules",
                deny=set(deny) | {"root"},
            )
    for section in ("codeEnvs", "notebooks", "sqlNotebooks", "futures", "apiKeys"):
        if not isinstance(doc.get(section), dict):
            raise BadRequest(f"general settings: '{section}' must be an object")
    _validate_numbers(doc)


def _validate_rule(rule: Any, where: str, *, is_user: bool, deny: set[str]) -> None:
    if not isinstance(rule, dict):
        raise BadRequest(f"general settings: rule {where} must be an object")
    kind = rule.get("type")
    if kind not in RULE_TYPES:
        raise BadRequest(
            f"general settings: rule {where} has type {kind!r}; use one of {', '.join(RULE_TYPES)}"
        )
    subject = "dssUser" if is_user else "dssGroup"
    if is_user:
        scope = rule.get("scope", "GLOBAL")
        if scope not in SCOPES:
            raise BadRequest(f"general settings: rule {where} has scope {scope!r}; use GLOBAL or PROJECT")
        if scope == "PROJECT" and not _nonempty(rule.get("projectKey")):
            raise BadRequest(f"general settings: rule {where} has scope PROJECT but no 'projectKey'")
    if kind == "SINGLE_MAPPING" and not _nonempty(rule.get(subject)):
        raise BadRequest(f"general settings: rule {where} of type {kind} needs '{subject}'")
    if kind == "REGEXP_RULE":
        pattern = rule.get("ruleFrom")
        if not _nonempty(pattern):
            raise BadRequest(f"general settings: rule {where} of type REGEXP_RULE needs 'ruleFrom'")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise BadRequest(
                f"general settings: rule {where} field 'ruleFrom' is not a valid regular expression: {exc}"
            ) from None
    if kind in ("SINGLE_MAPPING", "REGEXP_RULE"):
        target = rule.get("targetUnix")
        if not _nonempty(target):
            raise BadRequest(f"general settings: rule {where} of type {kind} needs 'targetUnix'")
        if kind == "SINGLE_MAPPING" and not _UNIX_NAME.fullmatch(target):
            raise BadRequest(
                f"general settings: rule {where} field 'targetUnix' {target!r} is not a valid UNIX user name"
            )
        if target in deny:
            raise BadRequest(
                f"general settings: rule {where} field 'targetUnix' is {target!r}, a denied target"
            )
    if kind == "IDENTITY" and is_user and rule.get(subject) in deny:
        raise BadRequest(
            f"general settings: rule {where} maps {rule.get(subject)!r} onto itself, a denied target"
        )
    hadoop = rule.get("targetHadoop")
    if hadoop is not None and not isinstance(hadoop, str):
        raise BadRequest(f"general settings: rule {where} field 'targetHadoop' must be a string")


def _validate_numbers(doc: dict[str, Any]) -> None:
    checks = [
        ("codeEnvs", "maxConcurrentBuilds", 1, 64),
        ("notebooks", "idleKernelTimeoutSeconds", 0, 10**7),
        ("notebooks", "maxSessionsPerUser", 1, 10_000),
        ("sqlNotebooks", "maxRowsKept", 0, 1_000_000),
        ("sqlNotebooks", "maxBytesKept", 0, 1_000_000_000),
        ("futures", "retentionHours", 0, 10**6),
        ("apiKeys", "maxLifetimeDays", 0, 10**5),
    ]
    for section, key, low, high in checks:
        value = doc[section].get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise BadRequest(f"general settings: '{section}.{key}' must be an integer from {low} to {high}")


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
