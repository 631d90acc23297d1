"""RFC 7386 JSON merge patches: how the client ships state changes to the server.

The client sends one full snapshot, then only the merge patch between consecutive states. A merge
patch is an object that mirrors the document: a key with a value sets it, a key with `null`
deletes it, nested objects merge recursively, and anything else (lists included) is replaced
wholesale. That is why the normalized client state keys every collection (cars, chat lines, pit
stops) by a stable id instead of putting it in a list, and why it never holds `None`: a `null`
in a patch can only mean "delete" (`assert_patchable` enforces this).

Equality is **type-exact**, so the server's copy re-encodes to the same bytes as the client's
(a checksum of the state means the same on both sides):
- `1` and `1.0` differ (a change between them is sent), `True` and `1` differ;
- floats compare exactly (no tolerance: the game's own rounding is the data; only -0.0 and 0.0
  count as equal);
- big integers (chat timestamps are 100-ns ticks, > 2**53) stay Python ints: nothing here ever
  converts a number.

Documents are treated as immutable values: `apply` and `diff` never mutate their inputs, but
their results share unchanged sub-trees with the inputs instead of copying them (that is what
makes a 60-car diff take a fraction of a millisecond). Don't mutate a document in place after
diffing or applying it; build a new one.
"""

from __future__ import annotations

import math
from typing import Any

import orjson

JSON = Any  # dict | list | str | int | float | bool (None only inside patches, meaning delete)

_MISSING = object()
_SCALARS = (str, int, float, bool)


def apply(target: JSON, patch: JSON) -> JSON:
    """The document `patch` turns `target` into (RFC 7386 MergePatch), as a new value.

    A non-object patch replaces the target (so `apply(x, None)` is `None`, as the RFC says; a
    sender never sends that: `diff` returns `None` for "no change" and no patch is sent).
    """
    if type(patch) is not dict:
        return patch
    return _merge(target, patch)


def _merge(target: JSON, patch: dict) -> dict:
    result = dict(target) if type(target) is dict else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif type(value) is dict:
            result[key] = _merge(result.get(key), value)
        else:
            result[key] = value
    return result


def diff(old: JSON, new: JSON) -> JSON:
    """The smallest merge patch turning `old` into `new`, or `None` when they are equal.

    For two objects the patch is an object (only changed keys; deleted keys map to `None`);
    otherwise it is `new` itself. `new` must be patchable (no `None` anywhere, see
    `assert_patchable`), or the patch would delete what it meant to set.
    """
    if type(old) is dict and type(new) is dict:
        patch = _diff_dict(old, new)
        return patch or None
    return None if same(old, new) else new


def _diff_dict(old: dict, new: dict) -> dict:
    # The hot loop of every tick (60 cars x ~100 fields): one lookup, and for the common case
    # (same type, equal or a changed scalar) one type check and one comparison per key.
    patch: dict = {}
    added = 0
    before_of = old.get
    for key, value in new.items():
        before = before_of(key, _MISSING)
        if before is value:
            continue
        kind = type(value)
        if kind is type(before):
            if kind is dict:
                sub = _diff_dict(before, value)
                if sub:
                    patch[key] = sub
            elif kind is list:
                if not same(before, value):
                    patch[key] = value
            elif before != value:
                patch[key] = value
        elif before is _MISSING:
            added += 1
            patch[key] = value
        else:  # another type: 1 -> 1.0, True -> 1, a scalar -> an object...
            patch[key] = value
    if len(new) - added < len(old):  # some keys of `old` are gone
        for key in old:
            if key not in new:
                patch[key] = None
    return patch


def same(a: JSON, b: JSON) -> bool:
    """Type-exact JSON equality: `1 != 1.0`, `True != 1`, dict key order does not matter."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is list:
        if len(a) != len(b) or a != b:  # C-speed rejection first (static lists: trackmap)
            return False
        try:  # C-speed type-exact check; key order can only make it report "different"
            if orjson.dumps(a) == orjson.dumps(b):
                return True
        except TypeError:  # an int beyond 64 bits: compare in Python
            pass
        return all(same(x, y) for x, y in zip(a, b, strict=True))
    if kind is dict:
        if len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, _MISSING)
            if other is _MISSING or not same(value, other):
                return False
        return True
    return a == b


def assert_patchable(doc: JSON, path: str = "") -> None:
    """Raise `ValueError` naming the first path that a merge patch could not carry faithfully.

    That is a `None` (a patch would read it as "delete"), a NaN or infinite float (JSON has no
    such number; orjson would write `null`), a non-string key, or a non-JSON type (tuple, set...).
    Paths look like `/cars/3-397_24_MCLAREN/bestLapTime` (JSON Pointer, `~` and `/` escaped).
    """
    stack: list[tuple[str, JSON]] = [(path, doc)]
    while stack:
        where, value = stack.pop()
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise ValueError(f"{where or '/'}: key {key!r} is not a string")
                stack.append((f"{where}/{_escape(key)}", item))
        elif kind is list:
            stack.extend((f"{where}/{i}", item) for i, item in enumerate(value))
        elif value is None:
            raise ValueError(f"{where or '/'}: None cannot be carried by a merge patch")
        elif kind is float:
            if not math.isfinite(value):
                raise ValueError(f"{where or '/'}: {value!r} is not a JSON number")
        elif kind not in _SCALARS:
            raise ValueError(f"{where or '/'}: {kind.__name__} is not a JSON type")


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
