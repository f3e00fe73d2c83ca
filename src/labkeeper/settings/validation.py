"""Checks a general settings document before anything is stored: its model, then what a
type cannot say (rules that must resolve, patterns that must match in bounded time)."""

from __future__ import annotations

import re
import time
from typing import Any

import regex

from labkeeper.codeenvs.spec import check_package_index, check_package_names
from labkeeper.errors import BadRequest
from labkeeper.server.params import validated
from labkeeper.settings.impersonation import rule_fullmatch
from labkeeper.settings.schemas import GeneralSettings

RULE_TYPES = ("IDENTITY", "SINGLE_MAPPING", "REGEXP_RULE")
SCOPES = ("GLOBAL", "PROJECT")
_UNIX_NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\$?")
# A rule must answer each probe within this time (and all probes within PROBES_SECONDS):
# logins and group names are short, so a slower rule is backtracking without bound.
PROBE_SECONDS = 0.05
PROBES_SECONDS = 2.0


def validate_general_settings(doc: dict[str, Any]) -> None:
    """Check `doc` (a whole document, defaults filled): its types and bounds against the
    model (settings/schemas.py), then what a type cannot say."""
    validated(GeneralSettings, doc)
    imp = doc["impersonation"]
    deny = set(imp.get("denyTargets", ["root"])) | {"root"}
    for field in ("userRules", "groupRules"):
        for index, rule in enumerate(imp.get(field, [])):
            _validate_rule(rule, f"impersonation.{field}[{index}]", is_user=field == "userRules", deny=deny)
    _validate_code_envs(doc["codeEnvs"])


def _validate_code_envs(section: dict[str, Any]) -> None:
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


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
