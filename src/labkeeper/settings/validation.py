"""Checks a general settings document before anything is stored."""

from __future__ import annotations

import re
import time
from typing import Any

import regex

from labkeeper.codeenvs.spec import check_package_index, check_package_names
from labkeeper.errors import BadRequest
from labkeeper.settings.impersonation import rule_fullmatch

RULE_TYPES = ("IDENTITY", "SINGLE_MAPPING", "REGEXP_RULE")
SCOPES = ("GLOBAL", "PROJECT")
_UNIX_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")
# A rule must answer each probe within this time (and all probes within PROBES_SECONDS):
# logins and group names are short, so a slower rule is backtracking without bound.
PROBE_SECONDS = 0.05
PROBES_SECONDS = 2.0


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
    _validate_code_envs(doc["codeEnvs"])
    if not isinstance(doc["notebooks"].get("terminalsEnabled", False), bool):
        raise BadRequest("general settings: 'notebooks.terminalsEnabled' must be true or false")


def _validate_code_envs(section: dict[str, Any]) -> None:
    for flag in ("allowPipOptionsInSpec", "allowDirectReferences"):
        if not isinstance(section.get(flag, False), bool):
            raise BadRequest(f"general settings: 'codeEnvs.{flag}' must be true or false")
    allow_direct = section.get("allowDirectReferences", False)
    for field in ("corePackages", "jupyterSupportPackages"):
        if field in section:
            check_package_names(section[field], f"codeEnvs.{field}", allow_direct=allow_direct)
    if "packageIndex" in section:
        check_package_index(section["packageIndex"])


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
            regex.compile(pattern)
        except (regex.error, re.error) as exc:
            raise BadRequest(
                f"general settings: rule {where} field 'ruleFrom' is not a valid regular expression: {exc}"
            ) from None
        _check_match_time(pattern, where)
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


def _probes(pattern: str) -> list[str]:
    """Names that make a backtracking pattern explode: runs of the characters it names (and
    of common name characters), each spoiled by a final character that fails the match."""
    alphabet = sorted({c for c in pattern if c.isalnum() or c in "._-@ "} | {"a", "0", ".", "_"})
    runs = [c * length for c in alphabet[:40] for length in (16, 32)]
    mixed = "".join(alphabet) * 4
    return [f"{run}{end}" for run in [*runs, mixed] for end in ("!", "\u2603", "")]


def _check_match_time(pattern: str, where: str) -> None:
    deadline = time.monotonic() + PROBES_SECONDS
    for probe in _probes(pattern):
        if time.monotonic() > deadline:
            break
        try:
            rule_fullmatch(pattern, probe, timeout=PROBE_SECONDS)
        except TimeoutError:
            raise BadRequest(
                f"general settings: rule {where} field 'ruleFrom' takes too long to match "
                f"{probe[:12] + '...' if len(probe) > 12 else probe!r} (more than {PROBE_SECONDS} s): "
                "simplify the regular expression (avoid nested or overlapping repetitions such as "
                "(a+)+ or (a|a)*)"
            ) from None


def _validate_numbers(doc: dict[str, Any]) -> None:
    checks = [
        ("codeEnvs", "maxConcurrentBuilds", 1, 64),
        ("notebooks", "idleKernelTimeoutSeconds", 0, 10**7),
        ("notebooks", "maxSessionsPerUser", 1, 10_000),
        # The saved notebook must stay under the 64 MiB notebook limit (notebooks/jupyter/files.py).
        ("notebooks", "maxRunOutputBytes", 1024, 60_000_000),
        ("notebooks", "maxCellOutputBytes", 1024, 60_000_000),
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
