"""Procedural circuits and real track maps: perimeter, pit lane, markers, lookups."""

from __future__ import annotations

import itertools
import math
import time
from pathlib import Path

import pytest

from sim.tracks import (
    FIRST_BOX_TYPE,
    TRACK_CATALOGUE,
    load_track_map,
    pit_box_fractions,
    pit_point_at,
    point_at,
    procedural_track,
    racing_line_length,
    track_from_map,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
MAPS = SHARED / "reference" / "lmu-captures" / "trackmap"


def _perimeter(track) -> float:
    line = [p for p in track.points if p.type == 0]
    return sum(
        math.hypot(b.x - a.x, b.z - a.z) for a, b in zip(line, line[1:] + line[:1], strict=True)
    )


@pytest.mark.parametrize("name", sorted(TRACK_CATALOGUE))
def test_catalogue_tracks_have_the_right_perimeter(name: str) -> None:
    length = TRACK_CATALOGUE[name]
    track = procedural_track(name, length, seed=3)
    assert abs(_perimeter(track) - length) / length < 0.01
    assert abs(racing_line_length(track) - _perimeter(track)) < 1e-6
    spacing = [
        math.hypot(b.x - a.x, b.z - a.z)
        for a, b in zip(track.points, track.points[1:], strict=False)
        if a.type == 0 and b.type == 0
    ]
    assert min(spacing) > 4.0 and max(spacing) < 6.0


def test_procedural_track_is_deterministic_and_seeded() -> None:
    a = procedural_track("Test Ring", 4321.0, seed=7)
    b = procedural_track("Test Ring", 4321.0, seed=7)
    c = procedural_track("Test Ring", 4321.0, seed=8)
    assert a == b
    assert a.points != c.points


def test_procedural_track_layout_matches_the_game_maps() -> None:
    track = procedural_track("Layout", 5000.0, seed=1)
    kinds = {p.type for p in track.points}
    assert {0, 1} <= kinds
    grid = [k for k in kinds if 2 <= k < FIRST_BOX_TYPE]
    boxes = [k for k in kinds if k >= FIRST_BOX_TYPE]
    assert len(grid) >= 20 and len(boxes) >= 20
    for k in grid + boxes:  # markers come in pairs
        assert sum(1 for p in track.points if p.type == k) == 2
    e1, e2 = track.sector_ends
    assert 0.2 < e1 < e2 < 0.8
    # Pit lane wraps over the line: entry late in the lap, exit early in the next one.
    assert e2 < track.pit_entry < 1.0 and 0.0 < track.pit_exit < e1
    assert track.pit_entry < track.pit_box < 1.0 + track.pit_exit
    assert all(track.pit_entry < f < 1.0 + track.pit_exit for f in pit_box_fractions(track))
    # The pit lane runs beside the line near the start/finish, never far from it.
    for f in (track.pit_entry, 0.0, track.pit_exit):
        px, _, pz, _, _ = pit_point_at(track, f)
        x, _, z, _, _ = point_at(track, f)
        assert math.hypot(px - x, pz - z) < 25.0


def test_point_at_is_continuous_and_closed() -> None:
    track = procedural_track("Continuity", 3083.31, seed=2)
    steps = 2000
    prev = point_at(track, 0.0)
    for i in range(1, steps + 1):
        cur = point_at(track, i / steps)
        assert math.hypot(cur[0] - prev[0], cur[2] - prev[2]) < 3083.31 / steps * 1.5
        assert abs(math.hypot(cur[3], cur[4]) - 1.0) < 1e-9
        prev = cur
    start, end = point_at(track, 0.0), point_at(track, 1.0)
    assert math.hypot(start[0] - end[0], start[2] - end[2]) < 1e-6
    # Arc length: a quarter lap along the line is a quarter of the perimeter.
    pts = [point_at(track, i / 4000) for i in range(1001)]
    arc = sum(math.hypot(b[0] - a[0], b[2] - a[2]) for a, b in itertools.pairwise(pts))
    assert abs(arc - 3083.31 / 4) < 3083.31 * 0.005


def test_point_lookups_are_fast() -> None:
    track = procedural_track("Speed", 13626.0, seed=0)
    point_at(track, 0.5)
    pit_point_at(track, 0.99)
    t0 = time.perf_counter()
    for i in range(60_000):
        point_at(track, i / 60_000)
        pit_point_at(track, (i % 100) / 1000)
    assert time.perf_counter() - t0 < 3.0


def _real_maps() -> list[Path]:
    if not MAPS.is_dir():
        return []
    return sorted(MAPS.glob("*.json"))


def test_real_maps_load_and_give_a_usable_track() -> None:
    maps = _real_maps()
    if not maps:
        pytest.skip("reference track maps (../shared/reference/lmu-captures/trackmap) are absent")
    for path in maps:
        points = load_track_map(path)
        assert points and all(p.type >= 0 for p in points)
        name = path.stem
        length = TRACK_CATALOGUE[name]
        track = track_from_map(name, length, points)
        # The notes: the type-0 perimeter is close to lapDistance.
        assert abs(racing_line_length(track) - length) / length < 0.015, name
        assert 0.0 <= track.pit_entry < 1.0 and 0.0 <= track.pit_exit < 1.0
        assert track.pit_entry != track.pit_exit
        # Pit-lane points near the entry really sit next to the racing line.
        px, _, pz, _, _ = pit_point_at(track, track.pit_entry)
        x, _, z, _, _ = point_at(track, track.pit_entry)
        assert math.hypot(px - x, pz - z) < 15.0, name
        assert 0.0 <= track.pit_box % 1.0 < 1.0


def test_track_from_map_finds_the_procedural_pit_lane() -> None:
    track = procedural_track("Roundtrip", 5412.0, seed=4)
    again = track_from_map(track.name, track.length, track.points)
    assert abs(again.pit_entry - track.pit_entry) < 0.01
    assert abs(again.pit_exit - track.pit_exit) < 0.01
    assert abs(again.pit_box - track.pit_box) < 0.01
