"""Tracking: pure code that turns ordered observations of one session into racing facts.

`Tracker(session_type, track_length)`; `tracker.observe(state, et)` and
`tracker.backfill(history, et)` return the events they produced (`events`); nothing here does
I/O, awaits or reads a clock. `Tracker.restore(session_type, track_length, events)` rebuilds a
tracker from stored events (`event_to_dict` / `event_from_dict`) that continues exactly as the
original. Modules: `laps`, `pits`, `stints`, `bests`, `strategy` (late service and usage data),
`conditions`, `feed` (human lines), `cars` (per-car record), `tracker` (ties them).
"""

from server.tracking.events import EVENT_TYPES, Event, event_from_dict, event_to_dict
from server.tracking.feed import FeedItem
from server.tracking.tracker import Tracker

__all__ = ["EVENT_TYPES", "Event", "FeedItem", "Tracker", "event_from_dict", "event_to_dict"]
