"""Touch-menu sessions land in the records: one ``itr`` interaction per finished session,
idempotent when the last step is posted again."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select

from cti.app.itr_records import LateSink, itr_recorder
from cti.records.core.events import RecordEvent
from cti.records.db import dispose, make_session_factory
from cti.records.migrate import upgrade
from cti.records.models import Interaction
from cti.records.store import record
from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSigner
from ivr_flows.touch.app import create_itr_app

OPEN = datetime(2026, 11, 23, 10, 0)  # a Monday morning


class NoBackend:
    def run(self, flow: Flow, act: Act) -> Result:
        return Result("error", {})


def test_a_finished_touch_session_is_one_itr_interaction_even_if_posted_twice(
        demo_flow: Flow, tmp_path: object) -> None:
    events: list[RecordEvent] = []
    sink = LateSink()
    sink.submit = events.append
    links = LinkSigner("link-secret", "http://itr.test", 600, epoch=lambda: 1_800_000_000.0)
    app = create_itr_app({demo_flow.name: demo_flow}, NoBackend(), links, lambda f: OPEN,
                         secret_key="state-secret", on_done=itr_recorder(sink))
    client = app.test_client()
    page = client.get("/f/demo_400?lang=en").get_data(as_text=True)
    found = re.search(r'name="state" value="([^"]+)"', page)
    assert found is not None
    form = {"state": found.group(1), "key": "0"}  # 0: talk to an agent (a queue exit)
    assert client.post("/f/demo_400/step", data=form).status_code == 200
    assert client.post("/f/demo_400/step", data=form).status_code == 200  # posted again
    assert len({e.interaction_id for e in events}) == 1
    assert [e.type for e in events[:3]] == ["interaction_started", "ivr", "ended"]
    assert [e.event_id for e in events[:3]] == [e.event_id for e in events[3:]]  # same ids
    url = f"sqlite:///{tmp_path}/records.db"
    upgrade(url)
    sf = make_session_factory(url)
    try:
        with sf.begin() as s:
            stored = [record(s, e) for e in events]
        assert stored == [True, True, True, False, False, False]
        with sf() as s:
            row = s.scalars(select(Interaction)).one()
        assert (row.channel, row.flow, row.exit) == ("itr", "demo_400", "queue")
        assert row.ivr_path.startswith("main")
    finally:
        dispose(sf)
