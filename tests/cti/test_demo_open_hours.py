"""The demo switch: every schedule open around the clock, the flow files untouched."""

from __future__ import annotations

from datetime import datetime

from cti.app.config import Config
from cti.app.server import open_around_the_clock
from ivr_flows.loading.loader import load_flows_dir


def test_the_demo_switch_opens_every_schedule_at_any_hour_and_holiday() -> None:
    flows = load_flows_dir(Config().flows_dir)
    agents = flows["demo_400"].schedules["agents"]
    night, holiday = datetime(2026, 12, 2, 3, 0), datetime(2026, 10, 1, 12, 0)
    assert not agents.is_open(night) and not agents.is_open(holiday)
    opened = open_around_the_clock(flows)["demo_400"].schedules["agents"]
    assert opened.is_open(night) and opened.is_open(holiday)
    assert opened.is_open(datetime(2026, 12, 6, 23, 59, 59))
    assert not flows["demo_400"].schedules["agents"].is_open(night)  # the loaded flow stays
