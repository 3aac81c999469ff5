"""Where rules tag customers from the records stream: run by the records writer after each
committed batch (``RecordWriter.after_commit``, its own thread), for the interactions whose
customer became known (an ``interaction_started`` with identities). Idempotent: a replayed
event finds the tag already there.

``publish(phones, tags)`` is told the phones and current tags of every customer it looked
at that has tags (the routing cache, ``cti/service/tag_routing.py``, via the reactor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import select

from cti.records import tags
from cti.records.core.events import InteractionStarted, RecordEvent
from cti.records.db import SessionFactory
from cti.records.models import Interaction
from cti.records.tag_rules import TagRules, repeat_tags

log = logging.getLogger(__name__)
Publish = Callable[[tuple[str, ...], tuple[str, ...]], None]


def _customer_known(event: RecordEvent) -> bool:
    return event.type == InteractionStarted.KIND and bool(event.data.get("identities"))


class TagHook:
    def __init__(self, rules: TagRules, publish: Publish | None = None) -> None:
        self.rules = rules
        self.publish = publish

    def __call__(self, sf: SessionFactory, events: Sequence[RecordEvent]) -> None:
        wanted = list(dict.fromkeys(e.interaction_id for e in events if _customer_known(e)))
        if not wanted:
            return
        seen: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        with sf.begin() as session:
            rows = session.execute(
                select(Interaction.id, Interaction.customer_id, Interaction.started_at)
                .where(Interaction.id.in_(wanted))).all()
            for iid, customer_id, started_at in rows:
                if customer_id is None or started_at is None:
                    continue
                keep, group = tags.customer_group(session, customer_id)
                since = started_at - timedelta(days=max(self.rules.repeat_days, 0))
                others = session.scalars(
                    select(Interaction.started_at).where(
                        Interaction.customer_id.in_(group), Interaction.id != iid,
                        Interaction.started_at >= since,
                        Interaction.started_at <= started_at)
                    .limit(1))
                for tag, source in repeat_tags(self.rules, started_at,
                                               [o for o in others if o is not None]):
                    try:
                        tags.add_in(session, keep, tag, source, started_at)
                    except tags.TagError as exc:  # a misconfigured tag, or too many
                        log.warning("tags: rule %s not applied to customer %s: %s",
                                    source, keep, exc.message)
                seen[keep] = (tuple(tags.phones_in(session, keep)),
                              tags.names(tags.tags_in(session, keep)))
        if self.publish is not None:
            for phones, names in seen.values():
                if phones and names:
                    self.publish(phones, names)

