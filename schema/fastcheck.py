"""Compile the subset of JSON Schema our LMU schemas use into plain Python predicates.

Why: jsonschema walks the schema for every value and needs ~30 ms for a 60-car standings array;
checking every response the simulator serves needs a few milliseconds. The predicates here only
answer "valid or not"; when a document is invalid, `schema.validation` asks jsonschema for the
detailed violations. Any keyword outside the supported subset raises `UnsupportedKeyword` at
compile time, so a schema edit can never be silently half-checked; tests cross-check the two
engines on valid and mutated documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from referencing._core import Resolver  # public as referencing.Registry().resolver()

Predicate = Callable[[object], bool]

#: Keywords that carry no constraint.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default"}
)
_CONSTRAINTS = frozenset(
    {
        "$ref",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "pattern",
        "minLength",
        "maxLength",
        "properties",
        "required",
        "additionalProperties",
        "propertyNames",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
    }
)


class UnsupportedKeyword(ValueError):
    """The schema uses a keyword the fast checker does not implement."""


def is_number(x: object) -> bool:
    """JSON number: int or float, never bool (Decimal and friends are not JSON values)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def is_integer(x: object) -> bool:
    """Strict JSON integer: 3.0 is not one (see schema.validation for why)."""
    return isinstance(x, int) and not isinstance(x, bool)


_TYPES: dict[str, Callable[[object], bool]] = {
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "string": lambda x: isinstance(x, str),
    "integer": is_integer,
    "number": is_number,
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def json_equal(a: object, b: object) -> bool:
    """JSON equality: 1 == 1.0, but true != 1; arrays and objects compared member by member."""
    if type(a) is bool or type(b) is bool:
        return type(a) is type(b) and a == b
    if is_number(a) and is_number(b):
        return a == b
    if type(a) is list and type(b) is list:
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict and type(b) is dict:
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class Compiler:
    """Compiles schemas reachable from one resolver; shared sub-schemas are compiled once."""

    def __init__(self) -> None:
        self._done: dict[int, Predicate] = {}

    def compile(self, schema: object, resolver: Resolver) -> Predicate:
        if schema is True:
            return lambda _x: True
        if schema is False:
            return lambda _x: False
        if not isinstance(schema, dict):
            raise UnsupportedKeyword(f"not a schema: {schema!r}")
        key = id(schema)
        if key in self._done:
            return self._done[key]
        # Late binding so that a (future) recursive $ref finds itself.
        slot: list[Predicate] = []
        self._done[key] = lambda x: slot[0](x)
        predicate = self._compile(schema, resolver)
        slot.append(predicate)
        self._done[key] = predicate
        return predicate

    def _compile(self, schema: dict[str, Any], resolver: Resolver) -> Predicate:
        unknown = [k for k in schema if k not in _CONSTRAINTS and k not in _ANNOTATIONS]
        unknown = [k for k in unknown if not k.startswith("x-")]
        if unknown:
            raise UnsupportedKeyword(f"unsupported keyword(s) {unknown} in {schema!r:.120}")
        checks: list[Predicate] = []
        if "$ref" in schema:
            resolved = resolver.lookup(schema["$ref"])
            checks.append(self.compile(resolved.contents, resolved.resolver))
        if "type" in schema:
            checks.append(_type_check(schema["type"]))
        if "enum" in schema:
            checks.append(_enum_check(schema["enum"]))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda x: json_equal(x, const))
        checks += _number_checks(schema)
        checks += _string_checks(schema)
        if any(k in schema for k in ("properties", "required", "additionalProperties")):
            checks.append(self._object_check(schema, resolver))
        if "propertyNames" in schema:
            names = self.compile(schema["propertyNames"], resolver)
            checks.append(lambda x: not isinstance(x, dict) or all(names(k) for k in x))
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems")):
            checks.append(self._array_check(schema, resolver))
        if not checks:
            return lambda _x: True
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(check(x) for check in checks)

    def _object_check(self, schema: dict[str, Any], resolver: Resolver) -> Predicate:
        properties = {
            name: self.compile(sub, resolver) for name, sub in schema.get("properties", {}).items()
        }
        required = tuple(schema.get("required", ()))
        extra = schema.get("additionalProperties", True)
        other: Predicate | None = None if extra is True else self.compile(extra, resolver)

        def check(x: object) -> bool:
            if not isinstance(x, dict):
                return True
            for name in required:
                if name not in x:
                    return False
            for name, value in x.items():
                predicate = properties.get(name, other)
                if predicate is not None and not predicate(value):
                    return False
            return True

        return check

    def _array_check(self, schema: dict[str, Any], resolver: Resolver) -> Predicate:
        prefix = [self.compile(sub, resolver) for sub in schema.get("prefixItems", ())]
        rest = self.compile(schema["items"], resolver) if "items" in schema else None
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        n_prefix = len(prefix)

        def check(x: object) -> bool:
            if not isinstance(x, list):
                return True
            if len(x) < low or (high is not None and len(x) > high):
                return False
            for predicate, item in zip(prefix, x, strict=False):
                if not predicate(item):
                    return False
            return rest is None or all(rest(item) for item in x[n_prefix:])

        return check


def _type_check(kind: str | list[str]) -> Predicate:
    kinds = [kind] if isinstance(kind, str) else list(kind)
    tests = [_TYPES[k] for k in kinds]
    if len(tests) == 1:
        return tests[0]
    return lambda x: any(test(x) for test in tests)


def _enum_check(values: list[object]) -> Predicate:
    if all(isinstance(v, str) for v in values):
        allowed = frozenset(values)
        return lambda x: isinstance(x, str) and x in allowed
    return lambda x: any(json_equal(x, v) for v in values)


def _number_checks(schema: dict[str, Any]) -> list[Predicate]:
    checks: list[Predicate] = []
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda x: not is_number(x) or x >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda x: not is_number(x) or x <= high)
    return checks


def _string_checks(schema: dict[str, Any]) -> list[Predicate]:
    checks: list[Predicate] = []
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda x: not isinstance(x, str) or search(x) is not None)
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) >= low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        checks.append(lambda x: not isinstance(x, str) or len(x) <= high)
    return checks
