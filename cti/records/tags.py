"""Customer tags in the records database (table ``customer_tags``).

A tag is short normalised text (``normalize_tag``: trimmed, NFKC, ASCII lower-cased, 1-32
letters, digits, CJK characters, ``-`` or ``_``) on one customer, unique per customer, with
where it came from (``agent:<id>`` or ``rule:<name>``) and when. A merged customer's tags count
for the survivor. The ``*_in`` functions take a session (the caller's transaction, e.g. the
records writer's rules hook); the others take a session factory and run one transaction each,
like ``callbacks.py``. Everything returns plain dataclasses.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from cti.records import customers
from cti.records.db import SessionFactory
from cti.records.errors import UseCaseError
from cti.records.models import Customer, CustomerIdentity, CustomerTag

MAX_TAG = 32
MAX_TAGS = 50  # per customer: a desk cannot grow a customer's tags without bound
_SOURCE = re.compile(r"^(agent|rule):[A-Za-z0-9_.\-]{1,64}$")


class TagError(UseCaseError):
    """A tag could not be used; ``code`` is stable: invalid_tag, invalid_source, too_many."""


@dataclass(frozen=True)
class TagInfo:
    tag: str
    source: str
    added_at: datetime


def normalize_tag(raw: str) -> str:
    """The stored form of a tag; raises ``TagError("invalid_tag")``."""
    if not isinstance(raw, str):
        raise TagError("invalid_tag", "a tag is text")
    text = unicodedata.normalize("NFKC", raw).strip()
    text = "".join(ch.lower() if ch.isascii() else ch for ch in text)
    if not 1 <= len(text) <= MAX_TAG:
        raise TagError("invalid_tag", f"a tag has 1 to {MAX_TAG} characters", length=len(text))
    if not all(_allowed(ch) for ch in text):
        raise TagError("invalid_tag", "a tag has letters, digits, Chinese characters, - or _")
    return text


def _allowed(ch: str) -> bool:
    if ch in "-_" or (ch.isascii() and ch.isalnum()):
        return True
    category = unicodedata.category(ch)
    return category in ("Lo", "Ll", "Lu", "Nd")  # CJK ideographs are Lo


def check_source(source: str) -> str:
    if not _SOURCE.match(source):
        raise TagError("invalid_source", "source is agent:<id> or rule:<name>")
    return source


def customer_group(session: Session, customer_id: int) -> tuple[int, list[int]]:
    """The surviving customer and every customer merged into it."""
    keep = customers.resolve(session, customer_id)
    merged = session.scalars(select(Customer.id).where(Customer.merged_into_id == keep))
    return keep, [keep, *merged]


def tags_in(session: Session, customer_id: int) -> list[TagInfo]:
    _, ids = customer_group(session, customer_id)
    rows = session.execute(
        select(CustomerTag.tag, CustomerTag.source, CustomerTag.added_at)
        .where(CustomerTag.customer_id.in_(ids))
        .order_by(CustomerTag.added_at, CustomerTag.id)
    ).all()
    seen: dict[str, TagInfo] = {}
    for tag, source, at in rows:
        seen.setdefault(tag, TagInfo(tag, source, at))
    return list(seen.values())


def add_in(session: Session, customer_id: int, tag: str, source: str,
           now: datetime) -> tuple[TagInfo, bool]:
    """Tag the customer; ``(tag, added)``: a tag it already has is kept as it was."""
    norm, source = normalize_tag(tag), check_source(source)
    keep, _ = customer_group(session, customer_id)
    current = tags_in(session, keep)
    for info in current:
        if info.tag == norm:
            return info, False
    if len(current) >= MAX_TAGS:
        raise TagError("too_many", f"a customer has at most {MAX_TAGS} tags")
    stmt = customers.insert_ignoring(session, CustomerTag.__table__).values(
        customer_id=keep, tag=norm, source=source, added_at=now)
    added = session.execute(stmt.on_conflict_do_nothing(index_elements=["customer_id", "tag"])
                            .returning(CustomerTag.__table__.c.id)).first() is not None
    return TagInfo(norm, source, now), added


def remove_in(session: Session, customer_id: int, tag: str) -> bool:
    norm = normalize_tag(tag)
    _, ids = customer_group(session, customer_id)
    result = session.execute(
        delete(CustomerTag).where(CustomerTag.customer_id.in_(ids), CustomerTag.tag == norm))
    return bool(getattr(result, "rowcount", 0))


def add(sf: SessionFactory, customer_id: int, tag: str, source: str,
        now: datetime) -> tuple[TagInfo, bool]:
    with sf.begin() as session:
        return add_in(session, customer_id, tag, source, now)


def remove(sf: SessionFactory, customer_id: int, tag: str) -> bool:
    with sf.begin() as session:
        return remove_in(session, customer_id, tag)


def tags_of(sf: SessionFactory, customer_id: int) -> list[TagInfo]:
    with sf() as session:
        return tags_in(session, customer_id)


def customer_of(sf: SessionFactory, identities: Mapping[str, str], *, create: bool = False,
                now: datetime | None = None) -> int | None:
    """The customer known by any of ``identities`` (kind -> value; unusable ones skipped);
    with ``create``, one is created for identities nobody owns yet."""
    found = customers.identities_from(dict(identities))
    if not found:
        return None
    with sf.begin() as session:
        for identity in found:
            owner = customers.find_customer(session, identity)
            if owner is not None:
                return owner
        if not create or now is None:
            return None
        return customers.identify(session, found, now)


def phones_in(session: Session, customer_id: int) -> list[str]:
    """The customer's phone identities (normalised), merged customers' included."""
    _, ids = customer_group(session, customer_id)
    return list(session.scalars(
        select(CustomerIdentity.value)
        .where(CustomerIdentity.customer_id.in_(ids), CustomerIdentity.kind == "phone")
        .order_by(CustomerIdentity.id)))


def tagged_phones(sf: SessionFactory, limit: int = 200_000) -> dict[str, tuple[str, ...]]:
    """Every tagged customer's phone numbers -> its tags (what routing preloads)."""
    out: dict[str, list[str]] = {}
    with sf() as session:
        owner = Customer.merged_into_id
        rows = session.execute(
            select(CustomerIdentity.value, CustomerTag.tag)
            .join(Customer, Customer.id == CustomerTag.customer_id)
            .join(CustomerIdentity, or_(
                CustomerIdentity.customer_id == CustomerTag.customer_id,
                CustomerIdentity.customer_id == owner))
            .where(CustomerIdentity.kind == "phone")
            .order_by(CustomerTag.id)
            .limit(limit)
        ).all()
    for phone, tag in rows:
        bucket = out.setdefault(phone, [])
        if tag not in bucket:
            bucket.append(tag)
    return {phone: tuple(t) for phone, t in out.items()}


def names(infos: Iterable[TagInfo]) -> tuple[str, ...]:
    return tuple(i.tag for i in infos)
