"""Validate LMU API documents by name against our JSON Schemas (`schema/lmu/*.json`).

Why: the simulator must answer exactly as the game does, and a real game build may drift. Every
response can be checked against the schema of its document kind; a violation names the JSON
pointer of the offending value, so drift shows up as "/3/veFraction: missing" rather than as a
crash somewhere downstream.

The schemas are strict on purpose (no unknown fields, exact enums, exact integer types), and the
JSON "integer" type is strict here too: `3.0` is *not* an integer. The game's own client
(System.Text.Json) rejects a float for an int field, and a chat timestamp (> 2^53) that went
through a float has already lost precision, so a float must be a violation.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import referencing
import referencing.jsonschema
from jsonschema import Draft202012Validator, ValidationError, validators

from schema import fastcheck

log = logging.getLogger(__name__)

#: Every document kind, by name; `<name>@<build>` are frozen variants of older game builds.
DOCUMENTS: tuple[str, ...] = (
    "sessionInfo",
    "standings",
    "standings@1.2",
    "standingsHistory",
    "trackmap",
    "gameState",
    "sessionsInfoForEvent",
    "multiplayerTeams",
    "joinState",
    "chat",
    "strategyOverall",
    "strategyUsage",
    "navigationState",
    "wsSubscribe",
    "wsLiveStandings",
    "wsSessionInfo",
)

#: REST path (exactly as the game serves it) -> document name.
ENDPOINTS: Mapping[str, str] = {
    "/rest/watch/sessionInfo": "sessionInfo",
    "/rest/watch/standings": "standings",
    "/rest/watch/standings/history": "standingsHistory",
    "/rest/watch/trackmap": "trackmap",
    "/rest/sessions/GetGameState": "gameState",
    "/rest/sessions/GetSessionsInfoForEvent": "sessionsInfoForEvent",
    "/rest/multiplayer/teams": "multiplayerTeams",
    "/rest/multiplayer/join/state": "joinState",
    "/rest/chat/": "chat",
    "/rest/strategy/overall": "strategyOverall",
    "/rest/strategy/usage": "strategyUsage",
    "/navigation/state": "navigationState",
}

#: The websocket the game pushes on, and the document name of each frame kind.
WEBSOCKET_PATH = "/websocket/ui"
WEBSOCKET_TOPICS: Mapping[str, str] = {
    "LiveStandings": "wsLiveStandings",
    "SessionInfo": "wsSessionInfo",
}

BASE_URI = "https://lmu-session-tracker.invalid/schema/lmu/"
_SHARED_FILES = ("common",)
_VALUE_REPR_LIMIT = 80
MISSING = "<missing>"


@dataclass(frozen=True, slots=True)
class Violation:
    """One way a document breaks its schema. `path` is a JSON pointer ("" = the whole document)."""

    document: str
    path: str
    value: str  # truncated repr of the offending value, or MISSING for an absent field
    message: str

    def __str__(self) -> str:
        return f"{self.document}{self.path or '/'}: {self.message} (value {self.value})"


class SchemaError(ValueError):
    """A document does not match its schema; `violations` holds every violation found."""

    def __init__(self, document: str, violations: list[Violation], shown: int = 5) -> None:
        self.document = document
        self.violations = violations
        lines = [f"{document}: {len(violations)} schema violation(s)"]
        lines += [f"  {v.path or '/'}: {v.message} (value {v.value})" for v in violations[:shown]]
        if len(violations) > shown:
            lines.append(f"  ... and {len(violations) - shown} more")
        super().__init__("\n".join(lines))


# Both engines must agree on every Python value: same strict integer, and "number" limited to
# int/float (jsonschema would also accept Decimal or Fraction, which are not JSON values).
_LMUValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {
            "integer": lambda _checker, x: fastcheck.is_integer(x),
            "number": lambda _checker, x: fastcheck.is_number(x),
        }
    ),
)


def _schema_files() -> Traversable:
    return resources.files(__package__ or "schema").joinpath("lmu")


def load_schema(name: str) -> dict[str, Any]:
    """A copy of the raw JSON Schema of a document (or of a shared file such as "common")."""
    return copy.deepcopy(_schema(name))


@functools.cache
def _schema(name: str) -> dict[str, Any]:
    if name not in DOCUMENTS and name not in _SHARED_FILES:
        raise KeyError(_unknown(name))
    return json.loads(_schema_files().joinpath(f"{name}.json").read_text(encoding="utf-8"))


@functools.cache
def _registry() -> referencing.Registry:
    resources_ = [
        referencing.Resource.from_contents(
            _schema(name), default_specification=referencing.jsonschema.DRAFT202012
        )
        for name in (*_SHARED_FILES, *DOCUMENTS)
    ]
    return referencing.Registry().with_resources((r.id(), r) for r in resources_).crawl()


@functools.cache
def jsonschema_validator(name: str) -> Draft202012Validator:
    """The reference engine for a document: slower, but reports every violation."""
    if name not in DOCUMENTS:
        raise KeyError(_unknown(name))
    schema = _schema(name)
    log.debug("compiling validator for %s", name)
    return _LMUValidator(schema, registry=_registry())


def _unknown(name: str) -> str:
    return f"unknown LMU document {name!r}; known documents: {', '.join(DOCUMENTS)}"


@functools.cache
def fast_check(name: str) -> fastcheck.Predicate:
    """The compiled yes/no predicate of a document (the fast path; see schema.fastcheck)."""
    if name not in DOCUMENTS:
        raise KeyError(_unknown(name))
    schema = _schema(name)
    resolver = _registry().resolver(base_uri=schema["$id"])
    return fastcheck.Compiler().compile(schema, resolver)


def validate(name: str, document: object) -> list[Violation]:
    """Every violation of `document` against the schema `name`; an empty list means valid.

    Valid documents take the fast path; only an invalid one pays for jsonschema's full report.
    """
    if fast_check(name)(document):
        return []
    validator = jsonschema_validator(name)
    found: dict[tuple[str, str], Violation] = {}
    errors = sorted(validator.iter_errors(document), key=lambda e: _sort_key(e.absolute_path))
    for error in errors:
        for violation in _violations(name, error):
            found.setdefault((violation.path, violation.message), violation)
    if not found:
        log.warning("fast check rejected a %s document that jsonschema accepts", name)
    return list(found.values())


def is_valid(name: str, document: object) -> bool:
    """True when `document` matches the schema `name`.

    The fast predicate decides; a "no" is confirmed by jsonschema, the reference engine, so
    `is_valid` and `validate` can never disagree about an invalid document.
    """
    return fast_check(name)(document) or jsonschema_validator(name).is_valid(document)


def check(name: str, document: object) -> None:
    """Raise `SchemaError` listing the first violations when `document` does not match `name`."""
    if is_valid(name, document):
        return
    raise SchemaError(name, validate(name, document))


def _violations(name: str, error: ValidationError) -> Iterator[Violation]:
    """Turn one jsonschema error into violations that point at the field concerned."""
    where = _pointer(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for field in error.validator_value:
            if field not in instance:
                yield Violation(name, f"{where}/{_escape(field)}", MISSING, "missing field")
        return
    if (
        error.validator == "additionalProperties"
        and error.validator_value is False
        and isinstance(instance, dict)
    ):
        known = error.schema.get("properties", {})
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        for field, value in instance.items():
            if field not in known and not any(p.search(field) for p in patterns):
                yield Violation(name, f"{where}/{_escape(field)}", _show(value), "unexpected field")
        return
    schema_path = list(error.absolute_schema_path)
    if len(schema_path) >= 2 and schema_path[-2] == "propertyNames" and isinstance(instance, str):
        # jsonschema reports a bad map key at its parent object: point at the key itself.
        path = f"{where}/{_escape(instance)}"
        yield Violation(name, path, _show(instance), f"bad map key: {error.message}")
        return
    yield Violation(name, where, _show(instance), error.message)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_REPR_LIMIT else text[: _VALUE_REPR_LIMIT - 3] + "..."


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _pointer(path: Iterable[object]) -> str:
    return "".join(f"/{_escape(token)}" for token in path)


def _sort_key(path: Iterable[object]) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, t, "") if isinstance(t, int) else (1, 0, str(t)) for t in path)
