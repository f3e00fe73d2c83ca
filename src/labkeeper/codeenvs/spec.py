"""What a code env's settings may hold, checked before anything is stored or built.

A spec line is a PEP 508 requirement naming a package on the configured index
(`pandas>=2`, `x[extra]; python_version < "3.12"`), parsed by `packaging`, never an option
and never a direct reference:
- lines starting with `-` (`--index-url`, `-r file`) are refused unless the general setting
  `codeEnvs.allowPipOptionsInSpec` is true;
- direct references (`name @ url`, `name @ file:...`, VCS URLs, editable `-e`) are refused
  unless `codeEnvs.allowDirectReferences` is true: they would make the build fetch and run
  whatever code the URL or path holds, bypassing the index the admin chose;
- anything else that does not parse as a requirement (bare paths, bare URLs, archive file
  names) is refused: uv would read it as a location.
Nothing here reaches a shell: builds pass each requirement as one argv element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from labkeeper.codeenvs.masking import mask
from labkeeper.errors import BadRequest
from labkeeper.names import check_text

MAX_SPEC_CHARS = 256 * 1024
MAX_REQUIREMENT_CHARS = 2048
PERMISSION_FLAGS = ("use", "update", "manage")
# Names uv would read as a local archive rather than as a project on the index.
_ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".egg")
_EDITABLE = ("-e", "--editable")  # -e PATH, -ePATH, --editable=PATH

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


def requirement_lines(
    text: str, *, allow_options: bool, allow_direct: bool = False, where: str = "specPackageList"
) -> Requirements:
    """Split a spec into requirement lines, dropping blanks and comments; refuse options
    (unless `allow_options`), direct references (unless `allow_direct`) and anything that
    is not a requirement."""
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
                    f"{where} line {number} ({_shown(line)!r}) is an option, not a requirement: "
                    "each line must name a package (e.g. 'pandas>=2'); options such as "
                    "--index-url, -r or -e are refused unless an admin sets the general setting "
                    "codeEnvs.allowPipOptionsInSpec"
                )
            if line.startswith(_EDITABLE) and not allow_direct:
                raise BadRequest(_direct_message(where, number, line))
            has_options = True
        else:
            check_requirement(line, allow_direct=allow_direct, where=f"{where} line {number}")
        lines.append(line)
    return Requirements(tuple(lines), has_options)


def check_requirement(line: str, *, allow_direct: bool, where: str) -> Requirement:
    """`line` parsed as a PEP 508 requirement naming a package on the index (or, when
    `allow_direct`, a `name @ url` direct reference); a 400 naming `where` otherwise."""
    try:
        requirement = Requirement(line)
    except InvalidRequirement as exc:
        looks_like_location = "/" in line or ":" in line.split(";", 1)[0] or line.startswith(".")
        hint = (
            "a path, URL or VCS reference is not a requirement: name a package of the configured "
            "index (e.g. 'pandas>=2')"
            if looks_like_location
            else f"it is not a valid requirement ({_first_line(str(exc))})"
        )
        raise BadRequest(
            f"{where} ({_shown(line)!r}) is refused: {hint}",
            detail=f"{where} ({_shown(line)!r}) does not parse as a PEP 508 requirement: {hint}. "
            "Direct references are written 'name @ url' and need the general setting "
            "codeEnvs.allowDirectReferences",
        ) from None
    if requirement.url is not None and not allow_direct:
        raise BadRequest(_direct_message(where, None, line))
    if requirement.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise BadRequest(
            f"{where} ({_shown(line)!r}) is refused: it names an archive file, not a package; "
            "name a package of the configured index (e.g. 'pandas>=2')"
        )
    return requirement


def _direct_message(where: str, number: int | None, line: str) -> str:
    at = f"{where} line {number}" if number is not None else where
    return (
        f"{at} ({_shown(line)!r}) is a direct reference (a URL, path, VCS or editable install), "
        "refused: builds install packages from the configured package index only; name the "
        "package instead (e.g. 'pandas>=2'), or an admin sets the general setting "
        "codeEnvs.allowDirectReferences"
    )


def _shown(line: str) -> str:
    """The start of a line for an error message, with any URL credentials masked."""
    return mask(line[:80])


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else "invalid"


def check_package_names(values: Any, where: str, *, allow_direct: bool = False) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"general settings: '{where}' must be a list of requirement strings")
    lines = requirement_lines(
        "\n".join(values), allow_options=False, allow_direct=allow_direct, where=where
    ).lines
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
                f"general settings: 'codeEnvs.packageIndex.{field}' must be a list of URLs or absolute paths "
                "(spaces and commas percent-encoded)"
            )
    if not isinstance(offline, bool):
        raise BadRequest("general settings: 'codeEnvs.packageIndex.offline' must be true or false")
    return {"indexUrl": index_url, "extraIndexUrls": extra, "findLinks": links, "offline": offline}


def _is_location(value: Any) -> bool:
    if not isinstance(value, str) or not value or value != value.strip():
        return False
    if any(ord(c) <= 32 or c == "," for c in value):  # the uv variables split on spaces and commas
        return False
    return value.startswith(("http://", "https://", "file://", "/"))


def index_options(index: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """uv arguments and environment variables choosing exactly the configured indexes.

    Index URLs and find-links locations go in the environment (UV_DEFAULT_INDEX, UV_INDEX,
    UV_FIND_LINKS), never in argv: a process's command line is readable by every local
    account (/proc/<pid>/cmdline), and index URLs may hold credentials. Offline: only
    `findLinks`, no index, no network."""
    args: list[str] = []
    env: dict[str, str] = {}
    if index["offline"]:
        args += ["--offline", "--no-index"]
    else:
        if index["indexUrl"]:
            env["UV_DEFAULT_INDEX"] = index["indexUrl"]
        if index["extraIndexUrls"]:
            env["UV_INDEX"] = " ".join(index["extraIndexUrls"])
    if index["findLinks"]:
        env["UV_FIND_LINKS"] = ",".join(index["findLinks"])
    return args, env


def index_urls(index: dict[str, Any]) -> list[str]:
    return [
        u for u in [index.get("indexUrl"), *index.get("extraIndexUrls", []), *index.get("findLinks", [])] if u
    ]
