"""The Python API: names, endpoints, violations, errors, schema hygiene and speed."""

from __future__ import annotations

import dataclasses
import fnmatch
import time
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry

from schema import (
    DOCUMENTS,
    ENDPOINTS,
    WEBSOCKET_TOPICS,
    SchemaError,
    Violation,
    check,
    is_valid,
    load_schema,
    validate,
)
from schema.fastcheck import Compiler, UnsupportedKeyword

REPO = Path(__file__).resolve().parents[2]
Example = Callable[[str], object]


def test_unknown_document_raises_key_error_naming_the_known_ones() -> None:
    for call in (validate, is_valid, check):
        with pytest.raises(KeyError, match=r"unknown LMU document 'standing'.*standings"):
            call("standing", [])
    with pytest.raises(KeyError):
        load_schema("../pyproject")


def test_endpoints_are_the_exact_rest_paths() -> None:
    assert ENDPOINTS["/rest/chat/"] == "chat"
    assert "/rest/chat" not in ENDPOINTS
    assert ENDPOINTS["/navigation/state"] == "navigationState"
    assert ENDPOINTS["/rest/sessions/GetGameState"] == "gameState"
    assert ENDPOINTS["/rest/multiplayer/join/state"] == "joinState"
    assert ENDPOINTS["/rest/watch/standings/history"] == "standingsHistory"
    assert set(ENDPOINTS.values()) <= set(DOCUMENTS)
    websocket = {"wsSubscribe", *WEBSOCKET_TOPICS.values()}
    legacy = {name for name in DOCUMENTS if "@" in name}
    assert set(ENDPOINTS.values()) | websocket | legacy == set(DOCUMENTS)
    assert all(path.startswith("/") for path in ENDPOINTS)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_schema_is_a_documented_strict_draft_2020_12_schema(name: str) -> None:
    schema = load_schema(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{name}.json")
    assert schema["title"]
    assert len(schema["description"]) > 40
    _assert_closed_objects(schema, name)


def _assert_closed_objects(node: object, where: str) -> None:
    """Every object schema forbids unknown fields, except navigationState (unknown to us)."""
    if isinstance(node, dict):
        if "properties" in node and not where.startswith("navigationState"):
            assert node.get("additionalProperties") is False, where
            assert set(node["required"]) <= set(node["properties"]), where
        for key, value in node.items():
            _assert_closed_objects(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            _assert_closed_objects(value, f"{where}/{index}")


def test_schema_files_ship_as_package_data() -> None:
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["schema"]
    shipped = sorted(p.name for p in resources.files("schema").joinpath("lmu").iterdir())
    json_files = [name for name in shipped if name.endswith(".json")]
    assert {f"{name}.json" for name in DOCUMENTS} <= set(json_files)
    for name in json_files:
        assert any(fnmatch.fnmatch(f"lmu/{name}", p) for p in patterns), name


def test_violation_is_a_small_frozen_record(example: Example) -> None:
    cars = example("standings")
    cars[1]["lapsCompleted"] = "18"
    (violation,) = validate("standings", cars)
    assert violation == Violation("standings", "/1/lapsCompleted", "'18'", violation.message)
    assert "integer" in violation.message
    assert "/1/lapsCompleted" in str(violation)
    with pytest.raises(dataclasses.FrozenInstanceError):
        violation.path = "/0"  # type: ignore[misc]


def test_long_values_are_truncated(example: Example) -> None:
    cars = example("standings")
    cars[0]["driverName"] = ["x" * 500]
    (violation,) = validate("standings", cars)
    assert violation.path == "/0/driverName"
    assert len(violation.value) <= 80
    assert violation.value.endswith("...")


def test_violations_come_in_document_order(example: Example) -> None:
    cars = [example("standings")[0] for _ in range(12)]
    for index in (11, 2, 10):
        cars[index]["sector"] = "SECTOR4"
    assert [v.path for v in validate("standings", cars)] == [
        "/2/sector",
        "/10/sector",
        "/11/sector",
    ]


def test_check_raises_schema_error_listing_the_first_violations(example: Example) -> None:
    check("chat", example("chat"))  # valid: no exception
    lines = [{"message": 1, "timestamp": 1.5} for _ in range(4)]
    with pytest.raises(SchemaError) as caught:
        check("chat", lines)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.document == "chat"
    assert len(error.violations) == 8
    text = str(error)
    assert text.startswith("chat: 8 schema violation(s)")
    assert "/0/message" in text and "/0/timestamp" in text
    assert "... and 3 more" in text


def test_fast_checker_refuses_keywords_it_does_not_implement() -> None:
    resolver = Registry().resolver()
    with pytest.raises(UnsupportedKeyword, match="oneOf"):
        Compiler().compile({"oneOf": [{"type": "string"}, {"type": "null"}]}, resolver)
    assert Compiler().compile({"x-lmu-since": "1.4", "type": "integer"}, resolver)(3)


def test_sixty_car_standings_validate_in_a_few_milliseconds(example: Example) -> None:
    car = example("standings")[0]
    cars = [{**car, "slotID": i, "position": i + 1} for i in range(60)]
    assert validate("standings", cars) == []
    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        validate("standings", cars)
    per_call = (time.perf_counter() - start) / rounds
    # ~1.6 ms on a laptop-class core; the bound is loose so a busy CI box does not flake.
    assert per_call < 0.015, f"{per_call * 1000:.1f} ms per 60-car standings"
