"""The one place a flow's wall-clock time is read. The interpreter takes it as a parameter."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ivr_flows.core.model import Flow


def local_now(flow: Flow) -> datetime:
    """Now, as a naive wall-clock time in the flow's time zone (what business hours compare)."""
    return datetime.now(ZoneInfo(flow.timezone)).replace(tzinfo=None)
