"""What a code env's settings may hold, checked before anything is stored or built.

A spec line is a requirement (`pandas>=2`, `name @ https://...`), never an option: lines
starting with `-` (`--index-url`, `-r file`, `-e path`) are refused unless the general
setting `codeEnvs.allowPipOptionsInSpec` is true. Nothing here reaches a shell: builds pass
each requirement as one argv element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labkeeper.errors import BadRequest
from labkeeper.names import check_text

MAX_SPEC_CHARS = 256 * 1024
MAX_REQUIREMENT_CHARS = 2048
PERMISSION_FLAGS = ("use", "update", "manage")

# Fields of the definition labkeeper computes: accepted when sent back, never stored from it.
READ_ONLY_FIELDS = frozenset(
    {
        "envLang",
        "envName",
        "deploymentMode",
        "path",
        "state",
        "pythonVersion",
        "actualPackageList",
        "actualCondaEnvironment",
        "jupyterKernel",
        "lastBuildError",
        "buildFutureId",
        "lastBuiltOn",
        "creationTime",
        "lastUpdateTime",
        "owner",
    }
)
EDITABLE_FIELDS = frozenset({"desc", "specPackageList", "specCondaEnvironment", "permissions", "usableByAll"})


@dataclass(frozen=True)
class Requirements:
    """Requirement lines to pass as argv, or (when pip options are allowed and present)
    lines for a requirements file."""

    lines: tuple[str, ...]
    has_options: bool


def requirement_lines(text: str, *, allow_options: bool, where: str = "specPackageList") -> Requirements:
    """Split a spec into requirement lines, dropping blanks and comments."""
    if not isinstance(text, str):
        raise BadRequest(f"{where} must be a string of requirement lines")
    if len(text) > MAX_SPEC_CHARS:
        raise BadRequest(f"{where} is too long: at most {MAX_SPEC_CHARS} characters")
    lines: list[str] = []
    has_options = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        if len(line) > MAX_REQUIREMENT_CHARS:
            raise BadRequest(f"{where} line {number} is too long: at most {MAX_REQUIREMENT_CHARS} characters")
        if any(ord(c) < 32 and c != "\t" for c in line):
            raise BadRequest(f"{where} line {number} holds control characters")
        if line.startswith("-"):
            if not allow_options:
                raise BadRequest(
                    f"{where} line {number} ({line[:60]!r}) is an option, not a requirement: "
                    "each line must name a package (e.g. 'pandas>=2'); options such as "
                    "--index-url, -r or -e are refused unless an admin sets the general setting "
                    "codeEnvs.allowPipOptionsInSpec"
                )
            has_options = True
        lines.append(line)
    return Requirements(tuple(lines), has_options)


def check_package_names(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"general settings: '{where}' must be a list of requirement strings")
    lines = requirement_lines("\n".join(values), allow_options=False, where=where).lines
    return list(lines)


def check_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{where} must be true or false, got {type(value).__name__}")
    return value


def check_permissions(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise BadRequest("permissions must be a list of {group, use, update, manage} objects")
    checked: list[dict[str, Any]] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadRequest(f"permissions[{index}] must be an object with a 'group'")
        group = item.get("group")
        if not isinstance(group, str) or not group.strip():
            raise BadRequest(f"permissions[{index}].group must be a group name")
        check_text(f"permissions[{index}].group", group, max_length=100, allow_empty=False)
        entry: dict[str, Any] = {"group": group}
        for flag in PERMISSION_FLAGS:
            entry[flag] = check_bool(item.get(flag, False), f"permissions[{index}].{flag}")
        unknown = set(item) - {"group", *PERMISSION_FLAGS}
        for key in sorted(unknown):  # kept as sent, like any field labkeeper does not interpret
            entry[key] = item[key]
        checked.append(entry)
    return checked


def check_desc_flags(desc: dict[str, Any]) -> None:
    for flag in ("installCorePackages", "installJupyterSupport"):
        if flag in desc:
            check_bool(desc[flag], f"desc.{flag}")
    if desc.get("conda"):
        raise BadRequest(
            "Conda environments are not supported: labkeeper builds virtual environments with uv; "
            "set desc.conda to false and list packages in specPackageList"
        )


def check_package_index(index: Any) -> dict[str, Any]:
    """Validate `codeEnvs.packageIndex` before a build uses it."""
    if not isinstance(index, dict):
        raise BadRequest("general settings: 'codeEnvs.packageIndex' must be an object")
    index_url = index.get("indexUrl")
    extra = index.get("extraIndexUrls") or []
    links = index.get("findLinks") or []
    offline = index.get("offline", False)
    if index_url is not None and not _is_location(index_url):
        raise BadRequest("general settings: 'codeEnvs.packageIndex.indexUrl' must be a URL or null")
    for field, values in (("extraIndexUrls", extra), ("findLinks", links)):
        if not isinstance(values, list) or not all(_is_location(v) for v in values):
            raise BadRequest(
                f"general settings: 'codeEnvs.packageIndex.{field}' must be a list of URLs or absolute paths"
            )
    if not isinstance(offline, bool):
        raise BadRequest("general settings: 'codeEnvs.packageIndex.offline' must be true or false")
    return {"indexUrl": index_url, "extraIndexUrls": extra, "findLinks": links, "offline": offline}


def _is_location(value: Any) -> bool:
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    if any(ord(c) < 32 for c in value):
        return False
    return value.startswith(("http://", "https://", "file://", "/"))


def index_arguments(index: dict[str, Any]) -> list[str]:
    """uv arguments choosing exactly the configured indexes; `--opt=value` so that no value
    can ever be read as another option. Offline: only `findLinks`, no index, no network."""
    args: list[str] = []
    if index["offline"]:
        args += ["--offline", "--no-index"]
    else:
        if index["indexUrl"]:
            args.append(f"--default-index={index['indexUrl']}")
        args += [f"--index={url}" for url in index["extraIndexUrls"]]
    args += [f"--find-links={link}" for link in index["findLinks"]]
    return args
