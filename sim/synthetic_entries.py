"""The synthetic entry list: classes, car numbers, teams, vehicles, drivers and their pace.

`build_entries` draws the whole list from the generator's `random.Random` right after the
track is picked and before any session is built (every later draw depends on it). A weekend
builds it once and hands each of its sessions a copy (`copy_entries`). `weighted`, the
weighted pick, is shared by the other synthetic modules.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sim import names
from sim.script import CAR_CLASSES, Entry, Member

DEFAULT_MIX = {"Hyper": 0.3, "LMP2": 0.25, "LMP2_ELMS": 0.2, "LMP3": 0.15, "GTE": 0.15, "GT3": 0.3}
DEFAULT_CLASSES = ("Hyper", "LMP2", "LMP3", "GT3")
VE_CLASSES = frozenset({"Hyper", "GT3"})  # cars with a virtual-energy allowance


@dataclass
class Pace:
    """How fast a car and each of its drivers are, relative to the class pace."""

    car: float
    drivers: dict[str, float]


def _class_counts(rng: random.Random, cars: int, classes: Sequence[str]) -> list[str]:
    classes = list(classes)[: max(1, cars)]
    weights = [DEFAULT_MIX.get(c, 0.2) for c in classes]
    total = sum(weights)
    raw = [cars * w / total for w in weights]
    counts = [max(1, int(r)) for r in raw]
    while sum(counts) > cars:
        counts[counts.index(max(counts))] -= 1
    order = sorted(range(len(classes)), key=lambda i: raw[i] - int(raw[i]), reverse=True)
    k = 0
    while sum(counts) < cars:
        counts[order[k % len(order)]] += 1
        k += 1
    out = [c for c, n in zip(classes, counts, strict=True) for _ in range(n)]
    rng.shuffle(out)
    return out


def weighted(rng: random.Random, pairs: Sequence[tuple]) -> object:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _person(rng: random.Random, used: set[str]) -> str:
    while True:
        name = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.SURNAMES)}"
        if name not in used:
            used.add(name)
            return name


def _team_code(team: str) -> str:
    letters = "".join(ch for ch in team.upper() if "A" <= ch <= "Z")
    return (letters or "TEAM")[:4]


def build_entries(
    rng: random.Random, cars: int, classes: Sequence[str] | None, online: bool
) -> tuple[list[Entry], dict[int, Pace]]:
    """The entry list (slot order) and each car's pace."""
    if cars < 1:
        raise ValueError("a session needs at least one car")
    wanted = tuple(classes) if classes else DEFAULT_CLASSES
    for c in wanted:
        if c not in CAR_CLASSES:
            raise ValueError(f"unknown car class {c!r}; expected one of {CAR_CLASSES}")
    car_classes = _class_counts(rng, cars, wanted)
    pool = list(range(1, 100)) if cars <= 99 else list(range(1, 1000))
    numbers = rng.sample(pool, cars)
    teams = list(names.TEAMS)
    rng.shuffle(teams)
    used_names: set[str] = set()
    html_slot = rng.randrange(cars)
    entries: list[Entry] = []
    paces: dict[int, Pace] = {}
    for slot, (car_class, num) in enumerate(zip(car_classes, numbers, strict=True)):
        number = f"{num:02d}" if num < 10 and rng.random() < 0.6 else str(num)
        model, brand = rng.choice(names.MODELS[car_class])
        label = "Hypercar" if car_class == "Hyper" else car_class.split("_")[0]
        team = teams.pop() if teams and rng.random() < 0.85 else f"{brand} {label} #{number}"
        year = rng.choice((2024, 2025))
        yy = year % 100
        if rng.random() < 0.5:
            vehicle_file = f"397_{yy}_{model}"
        else:
            vehicle_file = f"{num}_{yy}_{_team_code(team)}{rng.getrandbits(32):08X}"
        short = " ".join(team.split(" - ")[0].split()[:2])
        vehicle_name = f"{short} {year} #{number}:{names.SERIES[car_class]}"
        count = weighted(rng, ((1, 20), (2, 30), (3, 35), (4, 15))) if online else 1
        members: list[Member] = []
        for k in range(int(count)):
            name = _person(rng, used_names)
            roles = ("Driver",) if k == 0 else weighted(rng, names.ROLE_SETS)
            if k == 0 and online and rng.random() < 0.3:
                roles = weighted(rng, ((("Race Engineer", "Driver"), 2), (("Owner", "Driver"), 1)))
            badge = weighted(rng, names.BADGES) if online else "none"
            nationality = "" if rng.random() < 0.05 else rng.choice(names.NATIONALITIES)
            members.append(Member(name, str(badge), nationality, tuple(roles)))
        if slot == html_slot:
            first = members[0]
            members[0] = Member(names.HTML_DRIVER, first.badge, first.nationality, first.roles)
        drivers = [m.name for m in members if "Driver" in m.roles]
        human = online or slot == 0
        steam = {d: (76561197960265728 + rng.randrange(10**9)) if human else 0 for d in drivers}
        entries.append(
            Entry(
                slot_id=slot,
                vehicle_file=vehicle_file,
                vehicle_name=vehicle_name,
                team_name=team,
                car_class=car_class,
                car_number=number,
                car_id=f"{rng.getrandbits(160):040x}",
                team_id=str(uuid.UUID(int=rng.getrandbits(128), version=4))
                if online
                else str(rng.randrange(1, 10**6)),
                members=members,
                upgrade_pack="0" * 32 if rng.random() < 0.7 else f"{rng.getrandbits(128):032x}",
                has_virtual_energy=car_class in VE_CLASSES,
                steam_ids=steam,
            )
        )
        driver_pace = {
            d: (rng.uniform(0.0, 0.004) if i == 0 else rng.uniform(0.002, 0.02))
            for i, d in enumerate(drivers)
        }
        paces[slot] = Pace(
            car=max(-0.012, min(0.025, rng.gauss(0.004, 0.007))), drivers=driver_pace
        )
    return entries, paces


def copy_entries(entries: list[Entry]) -> list[Entry]:
    return [
        dataclasses.replace(e, members=list(e.members), steam_ids=dict(e.steam_ids))
        for e in entries
    ]
