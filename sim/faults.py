"""Faults on demand: how a real game misbehaves, switched on per viewpoint and per endpoint.

A fault spec is JSON (from the control API or `Simulator.set_faults`):

    {"seed": 7, "rules": [
        {"endpoint": "/rest/watch/standings", "slow": 1.5},
        {"endpoint": "*", "http500": 0.2},
        {"endpoint": "standings", "drift": {"from": "lapsCompleted", "to": "lapsComplete"}},
        {"endpoint": "LiveStandings", "drift": {"drop": "veFraction"}},
        {"endpoint": "/rest/chat/", "empty": true}]}

A spec without "rules" is one rule (`{"endpoint": "*", "slow": 2}`); `{}` clears all faults.
`endpoint` matches a REST path, a schema document name, a websocket topic, or "*" (all).
- `slow`: seconds to wait before answering (websocket: before each push).
- `http500`: probability 0..1 (or true = always) of answering 500 instead.
- `empty`: answer 200 with an empty body (websocket: push nothing).
- `drift`: rename (`from`/`to`) or drop (`drop`) a field in every object of the document - the
  API changing under the client after a game update. A list of such changes is accepted too.
Randomness comes from a seeded generator, so a run with the same spec fails the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

KINDS = ("slow", "http500", "empty", "drift")


class FaultSpecError(ValueError):
    """A fault spec the simulator cannot apply."""


@dataclass(frozen=True)
class Drift:
    rename_from: str | None = None
    rename_to: str | None = None
    drop: str | None = None


@dataclass(frozen=True)
class FaultRule:
    endpoint: str = "*"
    slow: float = 0.0
    http500: float = 0.0
    empty: bool = False
    drift: tuple[Drift, ...] = ()

    def matches(self, names: tuple[str, ...]) -> bool:
        return self.endpoint == "*" or self.endpoint in names


@dataclass(frozen=True)
class Outcome:
    """What to do with one answer: wait, then maybe fail, empty or drift the document."""

    delay: float = 0.0
    status: int = 200
    empty: bool = False
    drift: tuple[Drift, ...] = ()

    @property
    def clean(self) -> bool:
        return not (self.delay or self.status != 200 or self.empty or self.drift)


CLEAN = Outcome()


def _parse_drift(raw: object) -> tuple[Drift, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise FaultSpecError(f"drift must be an object or a list of objects, got {item!r}")
        if "drop" in item:
            out.append(Drift(drop=str(item["drop"])))
        elif "from" in item and "to" in item:
            out.append(Drift(rename_from=str(item["from"]), rename_to=str(item["to"])))
        else:
            raise FaultSpecError('drift needs {"from": a, "to": b} or {"drop": a}')
    return tuple(out)


def _parse_rule(raw: dict) -> FaultRule:
    if not isinstance(raw, dict):
        raise FaultSpecError(f"a fault rule must be an object, got {raw!r}")
    unknown = set(raw) - {*KINDS, "endpoint", "seed"}
    if unknown:
        raise FaultSpecError(f"unknown fault keys: {', '.join(sorted(unknown))}")
    http500 = raw.get("http500", 0.0)
    if http500 is True:
        http500 = 1.0
    elif http500 is False:
        http500 = 0.0
    try:
        slow = float(raw.get("slow", 0.0))
        http500 = float(http500)
    except (TypeError, ValueError) as exc:
        raise FaultSpecError(f"bad fault value: {exc}") from exc
    if slow < 0 or not 0.0 <= http500 <= 1.0:
        raise FaultSpecError("slow must be >= 0 and http500 within 0..1")
    drift = _parse_drift(raw["drift"]) if raw.get("drift") else ()
    return FaultRule(
        endpoint=str(raw.get("endpoint", "*")),
        slow=slow,
        http500=http500,
        empty=bool(raw.get("empty", False)),
        drift=drift,
    )


@dataclass
class Faults:
    """The faults of one viewpoint, with their own seeded random generator."""

    rules: tuple[FaultRule, ...] = ()
    seed: int = 0
    spec: dict = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def parse(cls, spec: dict | None, *, salt: int = 0) -> Faults:
        spec = dict(spec or {})
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault spec must be a JSON object")
        seed = int(spec.get("seed", 0))
        if "rules" in spec:
            raw_rules = spec["rules"]
            if not isinstance(raw_rules, list):
                raise FaultSpecError("rules must be a list")
        elif set(spec) - {"seed"}:
            raw_rules = [spec]
        else:
            raw_rules = []
        rules = tuple(_parse_rule({k: v for k, v in r.items() if k != "seed"}) for r in raw_rules)
        return cls(rules=rules, seed=seed, spec=spec, _rng=random.Random(seed * 1000 + salt))

    def outcome(self, *names: str) -> Outcome:
        """Decide the fate of one answer for an endpoint known under `names`."""
        if not self.rules:
            return CLEAN
        delay, status, empty, drift = 0.0, 200, False, []
        for rule in self.rules:
            if not rule.matches(names):
                continue
            delay = max(delay, rule.slow)
            if rule.http500 > 0 and (rule.http500 >= 1.0 or self._rng.random() < rule.http500):
                status = 500
            empty = empty or rule.empty
            drift.extend(rule.drift)
        return Outcome(delay=delay, status=status, empty=empty, drift=tuple(drift))


def apply_drift(document: object, changes: tuple[Drift, ...]) -> object:
    """A copy of `document` with every object's fields renamed or dropped (input untouched)."""
    if not changes:
        return document
    if isinstance(document, list):
        return [apply_drift(item, changes) for item in document]
    if isinstance(document, dict):
        out = {}
        for key, value in document.items():
            out[key] = apply_drift(value, changes)
        for change in changes:
            if change.drop is not None:
                out.pop(change.drop, None)
            elif change.rename_from in out:
                out[change.rename_to] = out.pop(change.rename_from)
        return out
    return document
