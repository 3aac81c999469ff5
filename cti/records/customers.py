"""One customer across channels: find or create a customer by an identity, link a newly learnt
identity, merge two customers that turn out to be the same person.

Identities are ``(kind, value)`` with kind phone | account | chat | email; values are
normalised before they are stored or looked up, and a (kind, value) pair belongs to at most one
customer (a unique constraint, so two writers cannot both create it). Functions take a session
(the caller owns the transaction) and return plain ``CustomerInfo`` dataclasses.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cti.records.models import IDENTITY_KINDS, Customer, CustomerIdentity, Interaction

log = logging.getLogger(__name__)

# International numbers with this country code are stored in national form, the way the demo
# back-end and the PBX caller id usually show them (+86 138... -> 138...).
HOME_COUNTRY_CODE = "86"
_NOT_DIGIT = re.compile(r"[^0-9]")


class IdentityError(ValueError):
    """An identity could not be used; ``code`` is stable, ``details`` machine-readable."""

    code = "invalid_identity"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class Identity:
    kind: str
    value: str


@dataclass(frozen=True)
class CustomerInfo:
    id: int
    identities: tuple[Identity, ...]
    created_at: datetime


def normalize_phone(raw: str) -> str:
    text = raw.strip()
    digits = _NOT_DIGIT.sub("", text)
    international = text.startswith("+") or digits.startswith("00")
    if digits.startswith("00"):
        digits = digits[2:]
    if international:
        if digits.startswith(HOME_COUNTRY_CODE):
            return digits[len(HOME_COUNTRY_CODE) :]
        return "+" + digits
    return digits


def normalize(kind: str, value: str) -> Identity:
    """The stored form of an identity; raises ``IdentityError`` for an unknown kind or a value
    that is empty once normalised."""
    if kind not in IDENTITY_KINDS:
        raise IdentityError(f"identity kind must be one of {', '.join(IDENTITY_KINDS)}", kind=kind)
    if kind == "phone":
        norm = normalize_phone(value)
    elif kind == "email":
        norm = value.strip().lower()
    elif kind == "account":
        norm = value.strip().upper()
    else:
        norm = value.strip()
    if not norm or len(norm) > 255:
        raise IdentityError("identity value is empty or too long", kind=kind)
    return Identity(kind, norm)


def identities_from(raw: object) -> list[Identity]:
    """Identities carried in event data: ``{"phone": "...", "account": "..."}`` or a list of
    ``{"kind": ..., "value": ...}``. Unusable entries are logged and skipped."""
    pairs: list[tuple[str, str]] = []
    if isinstance(raw, dict):
        pairs = [(str(k), str(v)) for k, v in raw.items() if v]
    elif isinstance(raw, list):
        pairs = [
            (str(item.get("kind")), str(item.get("value")))
            for item in raw
            if isinstance(item, dict) and item.get("value")
        ]
    found: list[Identity] = []
    for kind, value in pairs:
        try:
            found.append(normalize(kind, value))
        except IdentityError as exc:
            log.warning("skipping identity: %s (%s)", exc.message, exc.details)
    return found


def insert_ignoring(session: Session, table: Any) -> Any:
    """An INSERT that can take ``.on_conflict_do_nothing()`` on this session's backend."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table)


def _owner(session: Session, identity: Identity) -> int | None:
    return session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.kind == identity.kind, CustomerIdentity.value == identity.value
        )
    )


def resolve(session: Session, customer_id: int) -> int:
    """The surviving customer id, following merges."""
    seen: set[int] = set()
    current = customer_id
    while current not in seen:
        seen.add(current)
        target = session.scalar(select(Customer.merged_into_id).where(Customer.id == current))
        if target is None:
            return current
        current = target
    return current


def _attach(session: Session, customer_id: int, identity: Identity, now: datetime) -> int:
    """Give ``identity`` to ``customer_id`` unless it already has an owner; returns the owner."""
    stmt = insert_ignoring(session, CustomerIdentity.__table__).values(
        customer_id=customer_id, kind=identity.kind, value=identity.value, created_at=now
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["kind", "value"]))
    owner = _owner(session, identity)
    assert owner is not None
    return owner


def identify(session: Session, identities: Iterable[Identity], now: datetime) -> int | None:
    """The customer known by any of ``identities`` (created if none is known), with every one
    of them linked to it; ``None`` if no identity was given. If the identities belong to
    several customers they are merged into the oldest."""
    wanted = list(dict.fromkeys(identities))
    if not wanted:
        return None
    owners = {resolve(session, o) for i in wanted if (o := _owner(session, i)) is not None}
    if owners:
        keep = min(owners)
        for other in sorted(owners - {keep}):
            merge(session, keep=keep, absorb=other)
    else:
        customer = Customer(created_at=now)
        session.add(customer)
        session.flush()
        keep = customer.id
    for identity in wanted:
        owner = _attach(session, keep, identity, now)
        if resolve(session, owner) != keep:  # a concurrent writer created it meanwhile
            merge(session, keep=keep, absorb=resolve(session, owner))
    return keep


def link(session: Session, customer_id: int, identity: Identity, now: datetime) -> int:
    """Add an identity learnt later (e.g. the account id from self-service for a known phone).
    If another customer already owns it, the two are the same person: they are merged into
    the older one, whose id is returned."""
    keep = resolve(session, customer_id)
    owner = _owner(session, identity)
    if owner is None:
        owner = _attach(session, keep, identity, now)
    owner = resolve(session, owner)
    if owner == keep:
        return keep
    survivor, absorbed = min(keep, owner), max(keep, owner)
    merge(session, keep=survivor, absorb=absorbed)
    return survivor


def merge(session: Session, *, keep: int, absorb: int) -> None:
    """Move ``absorb``'s identities and interactions to ``keep`` and mark it merged."""
    if keep == absorb:
        return
    log.info("merging customer %s into %s", absorb, keep)
    session.execute(
        update(CustomerIdentity)
        .where(CustomerIdentity.customer_id == absorb)
        .values(customer_id=keep)
    )
    session.execute(
        update(Interaction).where(Interaction.customer_id == absorb).values(customer_id=keep)
    )
    session.execute(update(Customer).where(Customer.id == absorb).values(merged_into_id=keep))
    session.execute(
        update(Customer).where(Customer.merged_into_id == absorb).values(merged_into_id=keep)
    )


def known_owners(session: Session, identities: Iterable[Identity]) -> dict[Identity, int]:
    """The customers that own ``identities`` and were not merged away, in one SELECT (the
    batch writer's fast path: a returning caller costs no statement of its own). Identities
    with no owner, or whose owner was merged into another, are left out: ``identify`` and
    ``link`` handle those."""
    wanted = set(identities)
    if not wanted:
        return {}
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value, CustomerIdentity.customer_id)
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(
            CustomerIdentity.value.in_({i.value for i in wanted}),
            Customer.merged_into_id.is_(None),
        )
    ).all()
    found = ((Identity(kind, value), owner) for kind, value, owner in rows)
    return {ident: owner for ident, owner in found if ident in wanted}


def find_customer(session: Session, identity: Identity) -> int | None:
    owner = _owner(session, identity)
    return None if owner is None else resolve(session, owner)


def get_customer(session: Session, customer_id: int) -> CustomerInfo | None:
    customer = session.get(Customer, resolve(session, customer_id))
    if customer is None:
        return None
    rows = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value)
        .where(CustomerIdentity.customer_id == customer.id)
        .order_by(CustomerIdentity.id)
    ).all()
    return CustomerInfo(customer.id, tuple(Identity(k, v) for k, v in rows), customer.created_at)
