"""The fault matrix builds on the scenario harness of tests/core (CoreServer, TeamClient, the
script/laps comparison): make it importable here without copying it."""

from __future__ import annotations

import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
if str(CORE) not in sys.path:
    sys.path.insert(0, str(CORE))
