"""Rules that tag customers automatically: pure functions, no I/O, no clock.

- ``repeat_tags``: a customer with another contact that started within ``repeat_days`` before
  this one gets ``repeat_tag`` (source ``rule:repeat``).
- ``value_tags``: a self-service result (a flow variable such as ``account_tier``, filled from
  the back-end's answer) equal to one of ``vip_values`` gives ``vip_tag`` (``rule:vip``).

Each returns the ``(tag, source)`` pairs to add; applying them is ``tag_hook.py`` (records
writer thread) and the voice entry wrapper in ``cti/app/wiring.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

Proposal = tuple[str, str]  # (tag, source)


@dataclass(frozen=True)
class TagRules:
    repeat_days: int = 7  # 0: no repeat rule
    repeat_tag: str = "repeat"
    vip_var: str = ""  # "": no value rule
    vip_values: frozenset[str] = frozenset()  # compared trimmed, case-insensitively
    vip_tag: str = "vip"


def repeat_tags(rules: TagRules, started_at: datetime,
                others: Iterable[datetime]) -> tuple[Proposal, ...]:
    """``others``: when the customer's other contacts started."""
    if rules.repeat_days <= 0 or not rules.repeat_tag:
        return ()
    since = started_at - timedelta(days=rules.repeat_days)
    if any(since <= other <= started_at for other in others):
        return ((rules.repeat_tag, "rule:repeat"),)
    return ()


def value_tags(rules: TagRules, variables: Mapping[str, object]) -> tuple[Proposal, ...]:
    """``variables``: a finished flow's variables (what its self-service actions returned)."""
    if not rules.vip_var or not rules.vip_tag:
        return ()
    value = variables.get(rules.vip_var)
    if value is None or isinstance(value, dict | list):
        return ()
    wanted = {v.strip().lower() for v in rules.vip_values}
    if str(value).strip().lower() in wanted:
        return ((rules.vip_tag, "rule:vip"),)
    return ()
