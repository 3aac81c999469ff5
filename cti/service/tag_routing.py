"""Customer tags steer routing by configuration: the ``contact_policy`` of the CTI service.

``tags.priority = {"vip" = "9"}`` raises a contact's queue priority to at least 9 when its
customer has the tag ``vip`` (never lowers it); ``tags.skills = {"complaint" =
"complaints:1"}`` adds the required skill ``complaints`` (level 1 at least). ``steer`` is
pure; ``TagPolicy`` reads the customer's tags from ``TagCache``, a dict on the reactor thread
(normalised phone number -> tags), preloaded at start and kept fresh by the records side
through ``reactor.callFromThread`` (``put``). A contact whose customer is not in the cache
(an unknown number, a chat by name only) is left as it came: routing never waits for the
database. A transferred contact (attribute ``transferred_from``) is left alone too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from cti.records.customers import normalize_phone
from cti.routing.events import ContactArrived

_SKILL_NAME = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")


@dataclass(frozen=True)
class TagRouting:
    priority: Mapping[str, int] = field(default_factory=dict)  # tag -> minimum priority
    skills: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # tag -> skills

    @classmethod
    def from_config(cls, priority: Mapping[str, str],
                    skills: Mapping[str, str]) -> TagRouting:
        """Parse ``tags.priority`` / ``tags.skills``; raises ``ValueError`` naming the entry."""
        prio: dict[str, int] = {}
        for tag, value in priority.items():
            try:
                prio[tag.strip().lower()] = int(value)
            except ValueError:
                raise ValueError(f"tags.priority.{tag}: expected an integer, got {value!r}"
                                 ) from None
        wanted: dict[str, dict[str, int]] = {}
        for tag, spec in skills.items():
            parsed: dict[str, int] = {}
            for part in spec.split(","):
                name, _, level = part.strip().partition(":")
                level = level.strip() or "1"
                if not name or not set(name) <= _SKILL_NAME or len(name) > 32 \
                        or not level.isdigit():
                    raise ValueError(f"tags.skills.{tag}: write skill:level, got {spec!r}")
                parsed[name] = int(level)
            wanted[tag.strip().lower()] = parsed
        return cls(prio, wanted)


def steer(routing: TagRouting, tags: Iterable[str], event: ContactArrived) -> ContactArrived:
    """The contact as it enters its queue, given its customer's tags."""
    tags = tuple(tags)
    if not tags or "transferred_from" in event.attributes:
        return event
    priority = max([event.priority, *(routing.priority[t] for t in tags
                                      if t in routing.priority)])
    skills = dict(event.skills)
    for tag in tags:
        for name, level in routing.skills.get(tag, {}).items():
            skills[name] = max(skills.get(name, 0), level)
    if priority == event.priority and skills == dict(event.skills):
        return event
    return replace(event, priority=priority, skills=skills)


Reload = Callable[[Callable[[Mapping[str, Iterable[str]]], None]], None]


class TagCache:
    """Normalised phone number -> the customer's tags. Reactor thread only.

    ``reload(done)``, if given, reads every tagged phone in the background and calls
    ``done(mapping)`` on the reactor; a lookup starts one when the last is ``refresh_s`` old
    (so a tag an agent set on the desktop steers routing within that time, without any
    timer to stop); rules and agents' changes may also ``put`` at once."""

    def __init__(self, preload: Mapping[str, Iterable[str]] | None = None, *,
                 reload: Reload | None = None, clock: Callable[[], float] | None = None,
                 refresh_s: float = 15.0) -> None:
        self._by_phone: dict[str, tuple[str, ...]] = {}
        self._reload, self._clock, self._refresh_s = reload, clock, refresh_s
        self._loading = False
        self._loaded_at = clock() if clock is not None else 0.0
        self.replace(preload or {})

    def replace(self, mapping: Mapping[str, Iterable[str]]) -> None:
        """Everything known, as read from the records (a reload's ``done``)."""
        self._by_phone = {}
        for phone, tags in mapping.items():
            self.put((phone,), tuple(tags))
        self._loading = False

    def reload_failed(self) -> None:
        self._loading = False

    def put(self, phones: Iterable[str], tags: Iterable[str]) -> None:
        """The customer known by ``phones`` now has ``tags`` (empty: none)."""
        names = tuple(tags)
        for phone in phones:
            key = normalize_phone(phone)
            if not key:
                continue
            if names:
                self._by_phone[key] = names
            else:
                self._by_phone.pop(key, None)

    def add(self, phone: str, tags: Iterable[str]) -> None:
        key = normalize_phone(phone)
        if key:
            current = self._by_phone.get(key, ())
            self._by_phone[key] = current + tuple(t for t in tags if t not in current)

    def tags_for(self, customer: str) -> tuple[str, ...]:
        """The tags of the contact's ``customer`` (a phone number; anything else: none)."""
        self._maybe_reload()
        if not customer or len(customer) > 64:
            return ()
        return self._by_phone.get(normalize_phone(customer), ())

    def _maybe_reload(self) -> None:
        if self._reload is None or self._clock is None or self._loading:
            return
        now = self._clock()
        if now - self._loaded_at < self._refresh_s:
            return
        self._loading, self._loaded_at = True, now
        self._reload(self.replace)

    def __len__(self) -> int:
        return len(self._by_phone)


@dataclass
class TagPolicy:
    """``CtiService.contact_policy``: steer each arriving contact by its customer's tags."""

    routing: TagRouting
    cache: TagCache

    def __call__(self, event: ContactArrived) -> ContactArrived:
        return steer(self.routing, self.cache.tags_for(event.customer), event)
