"""RFC 7386 merge patches: the RFC's own examples, properties over random documents, speed."""

from __future__ import annotations

import copy
import statistics
import time

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.mergepatch import apply, assert_patchable, diff, same

# --- RFC 7386 -----------------------------------------------------------------------------

APPENDIX_A = [  # (original, patch, result), all of RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]

SECTION_3_TARGET = {
    "title": "Goodbye!",
    "author": {"givenName": "John", "familyName": "Doe"},
    "tags": ["example", "sample"],
    "content": "This will be unchanged",
}
SECTION_3_PATCH = {
    "title": "Hello!",
    "phoneNumber": "+01-123-456-7890",
    "author": {"familyName": None},
    "tags": ["example"],
}
SECTION_3_RESULT = {
    "title": "Hello!",
    "author": {"givenName": "John"},
    "tags": ["example"],
    "content": "This will be unchanged",
    "phoneNumber": "+01-123-456-7890",
}


@pytest.mark.parametrize(("original", "patch", "result"), APPENDIX_A)
def test_rfc7386_appendix_a(original, patch, result):
    before = copy.deepcopy((original, patch))
    assert apply(original, patch) == result
    assert (original, patch) == before  # inputs untouched


def test_rfc7386_section_3_example_both_ways():
    assert apply(SECTION_3_TARGET, SECTION_3_PATCH) == SECTION_3_RESULT
    assert diff(SECTION_3_TARGET, SECTION_3_RESULT) == SECTION_3_PATCH


# --- diff specifics -------------------------------------------------------------------------


def test_diff_of_equal_documents_is_none():
    doc = {"cars": {"0-A": {"lap": 3, "pos": [1.5, 2.5]}}, "x": True}
    assert diff(doc, doc) is None
    assert diff(doc, copy.deepcopy(doc)) is None
    assert diff(5, 5) is None
    assert diff([1, {"a": 2}], [1, {"a": 2}]) is None


def test_diff_is_minimal_and_deletes_with_none():
    old = {"a": 1, "b": {"c": 2, "d": 3}, "gone": "x", "same": [1, 2]}
    new = {"a": 1, "b": {"c": 2, "d": 4}, "same": [1, 2], "added": {"k": "v"}}
    assert diff(old, new) == {"b": {"d": 4}, "gone": None, "added": {"k": "v"}}


def test_emptied_object_is_sent_as_deletions():
    assert diff({"a": {"x": 1, "y": 2}}, {"a": {}}) == {"a": {"x": None, "y": None}}
    assert apply({"a": {"x": 1}}, diff({"a": {"x": 1}}, {"a": {}})) == {"a": {}}


def test_object_replacing_scalar_and_back():
    assert apply({"a": 1}, diff({"a": 1}, {"a": {"b": 2}})) == {"a": {"b": 2}}
    assert apply({"a": {"b": 2}}, diff({"a": {"b": 2}}, {"a": 1})) == {"a": 1}
    assert diff({"a": 1}, {"a": {}}) == {"a": {}}


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (1, 1.0),
        (True, 1),
        (False, 0),
        (0.0, False),
        ({"a": 1}, {"a": 1.0}),
        ({"a": True}, {"a": 1}),
        ({"a": [1, 2]}, {"a": [1, 2.0]}),
        ({"a": [True]}, {"a": [1]}),
        ({"a": [{"b": 0}]}, {"a": [{"b": False}]}),
    ],
)
def test_types_are_exact(old, new):
    """Documented choice: int vs float (and bool vs int) of equal value is a change."""
    assert old == new  # Python would call these equal...
    patch = diff(old, new)
    assert patch is not None  # ...the merge patch does not
    assert orjson.dumps(apply(old, patch)) == orjson.dumps(new)


def test_same_ignores_key_order_but_not_types():
    assert same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert same([{"a": 1, "b": 2}], [{"b": 2, "a": 1}])
    assert not same([1], [1.0])
    assert not same({"a": 1}, {"a": 1, "b": 2})
    assert not same([1, 2], [1])


def test_floats_compare_exactly():
    assert diff({"t": 92.123456789}, {"t": 92.12345678900001}) == {"t": 92.12345678900001}


def test_big_integers_survive_diff_apply_and_json():
    stamp = 17730571110904992  # chat timestamp: 100-ns ticks, beyond 2**53
    old = {"chat": {}}
    new = {"chat": {f"{stamp}-0": {"message": "F Riley: Lorem", "timestamp": stamp}}}
    wire = orjson.loads(orjson.dumps(diff(old, new)))
    got = apply(old, wire)["chat"][f"{stamp}-0"]["timestamp"]
    assert got == stamp and type(got) is int
    assert diff({"t": stamp}, {"t": stamp + 1}) == {"t": stamp + 1}  # 1 tick apart is a change
    huge = 2**70  # beyond orjson's 64 bits: the Python fallback compares it
    assert diff({"a": [huge]}, {"a": [huge]}) is None
    assert diff({"a": [huge]}, {"a": [huge + 1]}) == {"a": [huge + 1]}


def test_apply_and_diff_do_not_mutate():
    old = {"a": {"b": [1, 2], "c": 1}, "d": 1}
    new = {"a": {"b": [1, 3]}, "e": {"f": 1}}
    snap_old, snap_new = copy.deepcopy(old), copy.deepcopy(new)
    patch = diff(old, new)
    snap_patch = copy.deepcopy(patch)
    result = apply(old, patch)
    assert result == new
    assert (old, new, patch) == (snap_old, snap_new, snap_patch)
    assert result is not old and result["a"] is not old["a"]


# --- assert_patchable -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        (
            {"cars": {"3-397_24_MCLAREN": {"bestLapTime": None}}},
            "/cars/3-397_24_MCLAREN/bestLapTime",
        ),
        ({"a": [1, {"b": None}]}, "/a/1/b"),
        ({"x/y": {"t~": None}}, "/x~1y/t~0"),
        (None, "/"),
        ({"a": float("nan")}, "/a"),
        ({"a": [float("inf")]}, "/a/0"),
        ({"a": (1, 2)}, "/a"),
        ({"a": {1: "x"}}, "/a"),
    ],
)
def test_assert_patchable_names_the_path(doc, path):
    with pytest.raises(ValueError) as err:
        assert_patchable(doc)
    assert str(err.value).startswith(f"{path}:")


def test_assert_patchable_accepts_json():
    assert_patchable({"a": [1, 2.5, "x", True, {"b": {}}], "c": 2**63, "d": []})


# --- properties -----------------------------------------------------------------------------

scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
keys = st.text(alphabet="abcdef", max_size=3)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)
objects = st.dictionaries(keys, documents, max_size=6)
patches = st.recursive(  # random merge patches (None = delete) to derive related documents
    scalars | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=15,
)


def typed(value):
    """A type-exact view of a document for comparisons (1 and 1.0 differ, True and 1 differ)."""
    if type(value) is dict:
        return ("dict", sorted((k, typed(v)) for k, v in value.items()))
    if type(value) is list:
        return ("list", [typed(v) for v in value])
    return (type(value).__name__, value)


def strip_none(value):
    if type(value) is dict:
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    if type(value) is list:
        return [strip_none(v) for v in value if v is not None]
    return value


@settings(max_examples=300, deadline=None)
@given(documents, documents)
def test_patch_turns_a_into_b(a, b):
    before = copy.deepcopy((a, b))
    patch = diff(a, b)
    if patch is None:
        assert typed(a) == typed(b)
    else:
        assert typed(apply(a, patch)) == typed(b)
    assert typed((a, b)) == typed(before)


@settings(max_examples=300, deadline=None)
@given(objects, st.dictionaries(keys, patches, max_size=6))
def test_patch_between_related_objects(a, change):
    b = strip_none(apply(a, change))
    snapshot = copy.deepcopy(a)
    patch = diff(a, b)
    if patch is None:
        assert typed(a) == typed(b)
    else:
        assert type(patch) is dict
        assert typed(apply(a, patch)) == typed(b)
    assert typed(a) == typed(snapshot)


@settings(max_examples=200, deadline=None)
@given(documents)
def test_diff_with_itself_is_none(a):
    assert diff(a, a) is None
    assert diff(a, copy.deepcopy(a)) is None


# --- speed ----------------------------------------------------------------------------------


def car(slot: int) -> dict:
    """A car as the normalized state holds it: ~60 scalar fields and a few small objects."""
    row: dict = {f"field{i:02d}": float(slot * 100 + i) for i in range(40)}
    row.update({f"flag{i}": bool(i % 2) for i in range(8)})
    row.update({f"name{i}": f"text {slot} {i}" for i in range(8)})
    row.update(
        slotID=slot,
        vehicleFilename=f"VEH_{slot}",
        lapsCompleted=10,
        position=slot + 1,
        carPosition={"type": -1, "x": 1.5, "y": 0.2, "z": -3.0},
        carVelocity={"velocity": 50.0, "x": 1.0, "y": 0.0, "z": 49.0},
        attackMode={"remainingCount": 0, "timeRemaining": 0, "totalCount": 0},
    )
    return row


def test_diff_of_60_car_states_is_fast(capsys):
    old = {
        "session": {"currentEventTime": 100.0},
        "cars": {f"{i}-VEH_{i}": car(i) for i in range(60)},
    }
    new = copy.deepcopy(old)
    new["session"]["currentEventTime"] = 101.0
    for row in new["cars"].values():  # 2-3 changes per car, like one tick of a race
        row["field03"] += 1.0
        row["carPosition"]["x"] += 5.0
        row["position"] += 0 if row["slotID"] % 2 else 1
    timings = []
    for _ in range(40):
        start = time.perf_counter()
        patch = diff(old, new)
        timings.append(time.perf_counter() - start)
    assert len(patch["cars"]) == 60
    assert all(set(p) <= {"field03", "carPosition", "position"} for p in patch["cars"].values())
    assert apply(old, patch) == new
    best, median = min(timings) * 1000, statistics.median(timings) * 1000
    with capsys.disabled():
        print(f"\n60-car diff: best {best:.3f} ms, median {median:.3f} ms")
    assert best < 1.0
