"""Event feed and chat: race control lines from the tracker, chat lines from the game.

The feed items are the tracker's (`server/tracking/feed.py`: pits, swaps, penalties, bests,
flags, phases, finishes), placed by session ET. Chat lines carry the game's wall-clock time
(100 ns ticks) and no ET, and the game's clock is not the server's, so chat is listed beside
the feed (both newest first) instead of being merged into it at a guessed ET.

Filters (`car`, `car_class`) keep the lines about that car or class; session-wide lines
(phases, flags, full-course yellows) stay in every filtered feed, since they matter to every
car. A chat line belongs to a car when its sender ("F Surname: text", the game's short form of a
member's name) matches a member of the car's team or a driver the tracker saw in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from web.views.carinfo import (
    car_of_team,
    class_id,
    class_rank,
    identity,
    label,
    sender_names,
    state_cars,
    team_entries,
    text,
)
from web.views.model import SessionInput

TEMPLATE = "feed.html"
LIMIT = 200
TICKS_PER_SECOND = 10_000_000


def _senders(inp: SessionInput, cars: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Lower-cased chat sender form -> car keys whose people may write it."""
    people: dict[str, set[str]] = {}

    def add(name: str, key: str) -> None:
        if name:
            people.setdefault(name, set()).add(key)

    for team in team_entries(inp.state).values():
        key = car_of_team(team, cars)
        drivers = team.get("drivers")
        if key is not None and isinstance(drivers, dict):
            for name in drivers:
                add(text(name), key)
    for key, row in cars.items():
        add(text(row.get("driverName")), key)
    if inp.tracker is not None:
        for key, record in inp.tracker.cars.items():
            for name in record.drivers():
                add(name, key)
    forms: dict[str, set[str]] = {}
    for name, keys in people.items():
        for form in sender_names(name):
            forms.setdefault(form.lower(), set()).update(keys)
    return forms


def chat_lines(inp: SessionInput, cars: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The state's chat, newest first, each with its sender split off and matched to cars."""
    chat = inp.state.get("chat") if isinstance(inp.state, dict) else None
    if not isinstance(chat, dict):
        return []
    forms = _senders(inp, cars)
    lines = []
    for key, line in chat.items():
        if not isinstance(line, dict) or not isinstance(line.get("message"), str):
            continue
        stamp = line.get("timestamp")
        ticks = stamp if type(stamp) is int and stamp > 0 else None
        message: str = line["message"]
        sender, sep, body = message.partition(":")
        matched = sorted(forms.get(sender.strip().lower(), ())) if sep else []
        lines.append(
            {
                "id": str(key),
                "ticks": ticks,
                "time": _wall(ticks),
                "sender": sender.strip() if sep else None,
                "message": body.strip() if sep else message,
                "system": not sep,
                "cars": matched,
            }
        )
    lines.sort(key=lambda c: (c["ticks"] or 0, c["id"]), reverse=True)
    return lines


def _wall(ticks: int | None) -> str | None:
    if ticks is None:
        return None
    try:
        moment = datetime.fromtimestamp(ticks / TICKS_PER_SECOND, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.strftime("%H:%M:%S")


def _class_matches(wanted: str | None, car_class: str) -> bool:
    if wanted is None:
        return True
    return wanted.lower() in (car_class.lower(), class_id(car_class))


def build(
    inp: SessionInput, car: str | None = None, car_class: str | None = None
) -> dict[str, Any]:
    """The feed view model, newest first, at most LIMIT lines of each kind."""
    cars = state_cars(inp.state)
    records = inp.tracker.cars if inp.tracker is not None else {}
    idents = {key: identity(key, cars.get(key), records.get(key)) for key in {*cars, *records}}
    car = car or None
    car_class = car_class or None

    def keep(key: str | None) -> bool:
        if key is None:
            return True  # session-wide lines stay in every filtered feed
        ident = idents.get(key)
        if car is not None and key != car:
            return False
        return ident is None or _class_matches(car_class, ident["car_class"])

    feed = inp.tracker.feed if inp.tracker is not None else []
    items = []
    total = 0
    for item in reversed(feed):  # a day's race has thousands: only LIMIT become rows
        if not keep(item.car):
            continue
        total += 1
        if len(items) >= LIMIT:
            continue
        ident = idents.get(item.car) if item.car else None
        items.append(
            {
                "et": item.et,
                "kind": item.kind,
                "car": item.car,
                "car_slug": ident["slug"] if ident else None,
                "class_id": ident["class_id"] if ident else None,
                "car_class": ident["car_class"] if ident else None,
                "text": item.text,
            }
        )
    chat = []
    for line in chat_lines(inp, cars):
        filtered = car is not None or car_class is not None
        if filtered and not any(keep(k) for k in line["cars"]):
            continue
        line["labels"] = [
            {"car": k, "label": label(idents[k]), "class_id": idents[k]["class_id"]}
            for k in line["cars"]
            if k in idents
        ]
        chat.append(line)
    choices = sorted(idents.values(), key=lambda i: (class_rank(i["car_class"]), _num(i)))
    classes = sorted({i["car_class"] for i in idents.values() if i["car_class"]}, key=class_rank)
    return {
        "view": "feed",
        "session_id": inp.session_id,
        "track_name": str(inp.meta.get("track") or ""),
        "live": inp.live,
        "filters": {"car": car, "car_class": car_class},
        "unknown_car": car is not None and car not in idents,
        "events": items,
        "events_total": total,
        "chat": chat[:LIMIT],
        "chat_total": len(chat),
        "cars": [{"key": i["key"], "label": label(i), "class_id": i["class_id"]} for i in choices],
        "classes": [{"name": c, "class_id": class_id(c)} for c in classes],
    }


def _num(ident: dict[str, Any]) -> tuple[int, str]:
    digits = ident["number"]
    return (int(digits), "") if digits.isdigit() else (10_000, digits)


def parts(model: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [("feed-list", "feed_list", {"model": model})]
