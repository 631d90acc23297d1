"""The pure core of the live fan-out: topics, fragment diffs, and a viewer's coalescing mailbox.

No asyncio and no clock here (the hub and the endpoint are the shells around it), so every rule
of the transport -- what is sent after a render, what a slow viewer gets -- is tested without a
network. A fragment is the out-of-band HTML of one element (`hx-swap-oob`), keyed by element id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from web.render import VIEW_NAMES

VIEWS = VIEW_NAMES  # every view with live parts (web.render knows them)
SESSIONLESS = frozenset({"sessions"})  # views of no one session
CAR_VIEWS = frozenset({"car"})  # views that need a `car` parameter
CAR_FOCUS_VIEWS = frozenset({"charts"})  # views that may focus on a car

_ELEMENT_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class TopicKey:
    """What a viewer watches: one view of one session (of one car, for the car view)."""

    view: str
    session_id: str | None = None
    car: str | None = None

    def params(self) -> dict[str, str]:
        """The keyword parameters of `fragments(view, inp, **params)`."""
        return {"car": self.car} if self.car is not None else {}


def topic_key(view: str | None, session: str | None, car: str | None) -> TopicKey:
    """The topic of a `/ws/view` query, or ValueError saying what is wrong with it."""
    if not view:
        raise ValueError("missing view")
    if view not in VIEWS:
        raise ValueError(f"unknown view {view[:40]!r}")
    if view in SESSIONLESS:
        return TopicKey(view)
    if not session:
        raise ValueError(f"view {view} needs a session")
    if len(session) > 200:
        raise ValueError("session id too long")
    if view in CAR_VIEWS and not car:
        raise ValueError(f"view {view} needs a car")
    if car and view in CAR_VIEWS | CAR_FOCUS_VIEWS:
        if len(car) > 300:
            raise ValueError("car key too long")
        return TopicKey(view, session, car)
    return TopicKey(view, session)  # a car given to a view without one is ignored


def delete_fragment(element_id: str) -> str:
    """Removes an element that a render no longer has. A <template> parses in any context
    (even between table rows), so it can sit beside `<tr>` fragments in one message."""
    if not _ELEMENT_ID.fullmatch(element_id):
        raise ValueError(f"not an element id: {element_id!r}")
    return f'<template id="{element_id}" hx-swap-oob="delete"></template>'


# The HTML parser reads a message in the context its first element sets: after a <div>, a <tr>
# is dropped; after a <tr>, a <div> is misplaced. So fragments of different table contexts go
# in separate messages (each shared by all viewers); a <template> parses anywhere.
_ROOT_TAG = re.compile(r"\s*<([A-Za-z][A-Za-z0-9-]*)")
_CONTEXTS = {"tr": "row", "td": "cell", "th": "cell", "tbody": "section", "thead": "section",
             "tfoot": "section", "caption": "section", "colgroup": "section", "col": "col",
             "template": "any"}  # fmt: skip


def parse_context(fragment: str) -> str:
    """The parsing context a fragment needs: "body", "row", "cell", "section", "col" or "any"."""
    match = _ROOT_TAG.match(fragment)
    return _CONTEXTS.get(match.group(1).lower(), "body") if match else "body"


def messages(fragments: dict[str, str]) -> tuple[str, ...]:
    """The fragments as few websocket messages as parse right: one per table context."""
    groups: dict[str, list[str]] = {}
    for fragment in fragments.values():
        context = parse_context(fragment)
        if context == "any":
            context = next(iter(groups), "body")
        groups.setdefault(context, []).append(fragment)
    return tuple("".join(parts) for parts in groups.values())


@dataclass(frozen=True)
class Push:
    """The changed fragments of one render, and the messages sent as they are to every idle
    viewer (one str per table context, usually one)."""

    fragments: dict[str, str]
    texts: tuple[str, ...]
    size: int  # bytes of the messages as UTF-8

    @classmethod
    def of(cls, fragments: dict[str, str]) -> Push:
        texts = messages(fragments)
        return cls(fragments, texts, sum(len(t.encode()) for t in texts))

    @property
    def text(self) -> str:
        return "".join(self.texts)


@dataclass
class Topic:
    """One topic's subscribers and the HTML each of its elements last had."""

    key: TopicKey
    viewers: set = field(default_factory=set)
    last: dict[str, str] = field(default_factory=dict)
    rendered: bool = False
    _refresh: Push | None = None

    def update(self, fragments: dict[str, str]) -> Push | None:
        """Take a new render; the fragments that changed (and deletions of the elements that
        went away), or None when nothing did."""
        changed = {k: v for k, v in fragments.items() if self.last.get(k) != v}
        gone = [k for k in self.last if k not in fragments]
        for k in gone:
            changed[k] = delete_fragment(k)
        self.last = dict(fragments)
        self.rendered = True
        if not changed:
            return None
        self._refresh = None
        return Push.of(changed)

    def refresh(self) -> Push:
        """Every element of the last render (what a new or reconnecting viewer gets first);
        built once per render, shared by all viewers that join meanwhile."""
        if self._refresh is None:
            self._refresh = Push.of(self.last)
        return self._refresh


class Mailbox:
    """What one viewer has yet to be sent: never a backlog, only the newest HTML per element.

    While nothing is waiting, a push is held as is (so its shared str is sent); a push that
    arrives while one waits merges into it: the latest HTML per element id wins, first-seen
    order kept.
    """

    def __init__(self) -> None:
        self._push: Push | None = None
        self._merged: dict[str, str] | None = None
        self.coalesced = 0  # pushes merged into a waiting one

    def __bool__(self) -> bool:
        return self._push is not None or self._merged is not None

    def put(self, push: Push) -> None:
        if self._push is None and self._merged is None:
            self._push = push
            return
        if self._merged is None:
            assert self._push is not None
            self._merged = dict(self._push.fragments)
            self._push = None
        self._merged.update(push.fragments)
        self.coalesced += 1

    def replace(self, push: Push) -> None:
        """Drop whatever waits and hold `push` (a full refresh covers it all)."""
        self._push, self._merged = push, None

    def take(self) -> Push | None:
        """The one message to send now (None if nothing waits); the mailbox is then empty."""
        push, merged = self._push, self._merged
        self._push = self._merged = None
        if merged is not None:
            return Push.of(merged)
        return push
