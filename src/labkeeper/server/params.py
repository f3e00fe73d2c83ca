"""What a route may declare besides its path: typed query parameters and JSON bodies.

Routes declare their query parameters and bodies in their signatures with the types below;
the compiled plan (server/dispatch.py) converts and validates them, and FastAPI describes
them in /openapi.json from the same declarations. A value that does not fit is a 400 with
the DSS error body naming the parameter or field (`invalid_request`).
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from fastapi import Body, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from labkeeper.errors import BadRequest

if TYPE_CHECKING:
    from fastapi._compat import ModelField

_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


def _dss_bool(value: Any) -> Any:
    """DSS clients send `True`/`False` (Python's str of a bool) or `true`/`false`."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise PydanticCustomError("dss_bool", "true or false is required (True/False, 1/0, yes/no too)")
    return value


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


# A boolean query parameter with the spellings DSS clients send (`True`, `false`, `1`, ...).
DSSBool = Annotated[bool, BeforeValidator(_dss_bool)]
# Integer query parameters; an empty value counts as absent.
Count = Annotated[Annotated[int, Field(ge=0, le=2**53)] | None, BeforeValidator(_blank_is_none)]
Limit = Annotated[Annotated[int, Field(ge=0, le=100_000)] | None, BeforeValidator(_blank_is_none)]


def flag(alias: str, description: str) -> Any:
    """A boolean query parameter named `alias` in the query string."""
    return Query(alias=alias, description=description)


def parse_int(
    name: str, value: str | None, *, default: int | None = None, minimum: int = 0, maximum: int = 2**53
) -> int | None:
    """An integer from an HTML form field (the console's pages; API routes declare Count)."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Query parameter '{name}' must be an integer, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise BadRequest(f"Query parameter '{name}' must be between {minimum} and {maximum}")
    return number


class Document(BaseModel):
    """A JSON object whose keys labkeeper does not all interpret: the declared fields are
    checked, every other key is kept as sent (DSS round-trips keys labkeeper does not know)."""

    model_config = ConfigDict(extra="allow", strict=True)

    def sent(self) -> dict[str, Any]:
        """The document as sent: declared fields that were sent, and every other key."""
        return self.model_dump(exclude_unset=True)


ModelT = TypeVar("ModelT", bound=BaseModel)

# Bodies that are DSS documents labkeeper keeps whole (checked by their service).
JsonObject = Annotated[dict[str, Any], Body(description="A JSON object")]
OptionalJsonObject = Annotated[dict[str, Any] | None, Body(description="A JSON object (optional)")]


def validated(model: type[ModelT], value: Any) -> ModelT:
    """`value` checked against `model` outside a request's plan (a service's own check), with
    the same 400 as the plan's."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_request(exc.errors(include_url=False)) from None


_KINDS = {"model_type": "a JSON object", "dict_type": "a JSON object", "list_type": "a JSON array"}


def _what(err: dict[str, Any]) -> str:
    kind = _KINDS.get(str(err.get("type")))
    return f"{kind} is required" if kind else str(err.get("msg"))


def _place(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def invalid_request(errors: Iterable[dict[str, Any]]) -> BadRequest:
    """The one 400 for a parameter or body field that does not fit its declaration: each
    problem named by where it is (`query.limit`, `body.groups.0`) and what is wrong. The
    value sent is never repeated (it may be a password)."""
    problems = "; ".join(f"{_place(err.get('loc', ()))}: {_what(err)}" for err in errors)
    return BadRequest(f"Invalid request: {problems}")


# ---------------------------------------------------------------- the plan's conversions


def is_str_list(annotation: Any) -> bool:
    """Whether a query parameter is a list of strings (`?tags=a&tags=b`)."""
    args = [annotation]
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
    return len(args) == 1 and get_origin(args[0]) is list and get_args(args[0]) in ((str,), ())


def _adapter(param: ModelField) -> TypeAdapter[Any]:
    """The declared type with its constraints and validators (`Annotated` metadata)."""
    info = param.field_info
    return TypeAdapter(Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation)


def converter(param: ModelField, loc: tuple[str, ...]) -> Callable[[Any], Any]:
    """A parameter's conversion in the compiled plan (server/dispatch.py): its declared type
    and constraints, a misfit being the one 400 of `invalid_request` at `loc`."""
    validate = _adapter(param).validate_python

    def convert(value: Any) -> Any:
        try:
            return validate(value)
        except ValidationError as exc:
            raise invalid_request(
                {**err, "loc": (*loc, *err["loc"])} for err in exc.errors(include_url=False)
            ) from None

    return convert
