"""Real game responses (shared captures) against our schemas, with the declared 1.2 drift."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from schema import load_schema, validate

DRIFT_FIELDS = ("lapsBehindClassLeader", "timeBehindClassLeader", "veFraction")


def _load(path: Path) -> object:
    # The strategy capture went through a Latin-1 round trip once (accented names are U+FFFD);
    # decoding with replacement keeps every capture readable whatever its bytes.
    return json.loads(path.read_bytes().decode("utf-8", errors="replace"))


@pytest.mark.parametrize(
    ("capture", "document"),
    [
        ("synced/sessionInfo.json", "sessionInfo"),
        ("unsynced/sessionInfo.json", "sessionInfo"),
        ("synced/standingsHistory.json", "standingsHistory"),
        ("unsynced/standingsHistory.json", "standingsHistory"),
        ("synced/trackMap.json", "trackmap"),
        ("strategy-overall.json", "strategyOverall"),
    ],
)
def test_capture_matches_current_schema(captures: Path, capture: str, document: str) -> None:
    data = _load(captures / capture)
    assert data, f"{capture} is empty"
    assert validate(document, data) == []


def test_every_trackmap_capture_matches(captures: Path) -> None:
    files = sorted((captures / "trackmap").glob("*.json"))
    assert files, "no trackmap captures"
    for path in files:
        assert validate("trackmap", _load(path)) == [], path.name


def test_strategy_capture_has_duplicate_team_names(captures: Path) -> None:
    data = _load(captures / "strategy-overall.json")
    names = Counter(team for team, _entries in data)
    assert max(names.values()) > 1  # team names are not unique: the schema must not key by them


@pytest.mark.parametrize("capture", ["synced/standings.json", "unsynced/standings.json"])
def test_standings_capture_matches_legacy_variant(captures: Path, capture: str) -> None:
    assert validate("standings@1.2", _load(captures / capture)) == []


@pytest.mark.parametrize("capture", ["synced/standings.json", "unsynced/standings.json"])
def test_standings_capture_shows_exactly_the_declared_drift(captures: Path, capture: str) -> None:
    cars = _load(captures / capture)
    assert isinstance(cars, list)
    violations = validate("standings", cars)
    expected = set()
    for index in range(len(cars)):
        expected |= {(f"/{index}/{field}", "<missing>", "missing field") for field in DRIFT_FIELDS}
        expected.add((f"/{index}/inControl", "3", "3 is greater than the maximum of 2"))
    assert {(v.path, v.value, v.message) for v in violations} == expected
    assert len(violations) == 4 * len(cars)


def _standing_properties(name: str) -> dict:
    return load_schema(name)["$defs"]["Standing"]["properties"]


def test_legacy_variant_differs_only_as_its_description_says() -> None:
    current, legacy = _standing_properties("standings"), _standing_properties("standings@1.2")
    assert set(current) - set(legacy) == set(DRIFT_FIELDS)
    assert set(legacy) <= set(current)
    changed = {f for f in legacy if legacy[f] != current[f]}
    assert changed == {"inControl"}
    assert (current["inControl"]["maximum"], legacy["inControl"]["maximum"]) == (2, 3)
    legacy_standing = load_schema("standings@1.2")["$defs"]["Standing"]
    assert set(legacy_standing["required"]) == set(legacy)
    description = load_schema("standings@1.2")["description"]
    for word in (*DRIFT_FIELDS, "inControl", "1.2"):
        assert word in description
