"""How the voice benchmark finds a variant's maximum rate: pure (no I/O, no clock, no
processes), so every decision is tested with made-up outcomes (tests/unit/test_voice_bench_plan.py).

A variant's *search* looks at the outcomes of the steps it ran so far (rate, passed or not)
and names the next rate to try, or None when it is finished:

- ``Ramp`` (the default): start at ``start``; after every pass multiply the rate by
  ``growth`` (never above ``cap``); after the first failure bisect (geometric midpoint,
  rounded to ``resolution``) between the highest passing and the lowest failing rate until
  failed / passed <= 1 + ``precision``. A failure at the very first rate walks down by the
  same factor (never below ``resolution``) until a rate passes, then bisects. Passing ``cap``
  ends the search: the variant's maximum is ">= cap".
- ``FixedRates`` (``--rates``): the given rates in order, stopping at the first failure.

``round_plan``/``run_search`` alternate the variants: in every round each variant still
searching runs one step at its own next rate, and who goes first alternates from round to
round (while both ramp up, that is the same rate for both); a variant whose search has
finished drops out and the other goes on alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Outcome:
    rate: float
    passed: bool


@dataclass(frozen=True)
class Interval:
    """Where a variant's maximum rate lies, from its outcomes: in [lo, hi)."""

    lo: float  # the highest rate that passed (0.0: none did)
    hi: float | None  # the lowest rate that failed (None: none did)
    capped: bool = False  # passed the highest rate its search may try: the maximum is >= lo

    @property
    def measured(self) -> bool:
        return self.lo > 0 or self.hi is not None

    @property
    def text(self) -> str:
        if self.hi is None:
            if not self.lo:
                return "not measured"
            return f"passed {self.lo:g}: max ≥ {self.lo:g}" + (
                " (the cap)" if self.capped else " (search not finished)")
        if not self.lo:
            return f"failed {self.hi:g}: max < {self.hi:g} (no rate tried passed)"
        return f"passed {self.lo:g}, failed {self.hi:g}: max in [{self.lo:g}, {self.hi:g})"


class Strategy(Protocol):
    @property
    def ceiling(self) -> float:
        """The highest rate this search may try."""
        ...

    def describe(self) -> str:
        """The method, in a sentence for the log and the report."""
        ...

    def next_rate(self, tried: Sequence[Outcome]) -> float | None:
        """The next rate to try after ``tried`` (in the order run), None when finished."""
        ...


def interval(search: Strategy, tried: Sequence[Outcome]) -> Interval:
    lo = max((o.rate for o in tried if o.passed), default=0.0)
    hi = min((o.rate for o in tried if not o.passed), default=None)
    return Interval(lo, hi, capped=hi is None and lo > 0 and lo >= search.ceiling)


def _on_grid(x: float, resolution: float) -> float:
    return round(round(x / resolution) * resolution, 6)


@dataclass(frozen=True)
class Ramp:
    """Geometric ramp up to the first failure, then bisection (see the module's docstring)."""

    start: float
    growth: float  # each passing ramp step: rate x growth (1.25 = +25 %)
    precision: float  # finished when failed / passed <= 1 + precision
    cap: float  # never tried above; passing it ends the search (">= cap")
    resolution: float = 1.0  # every rate tried is a multiple of this (calls/s)

    def __post_init__(self) -> None:
        if not (self.resolution > 0 and self.growth > 1 and self.precision > 0):
            raise ValueError("Ramp: resolution and precision must be > 0, growth > 1")
        if not self.resolution <= self.start <= self.cap:
            raise ValueError(f"Ramp: need resolution <= start <= cap (got {self.resolution:g}"
                             f" <= {self.start:g} <= {self.cap:g})")

    @property
    def ceiling(self) -> float:
        return self.cap

    def describe(self) -> str:
        grid = "whole calls/s" if self.resolution == 1 else f"steps of {self.resolution:g}"
        return (f"from {self.start:g} calls/s, x{self.growth:g} per passing step up to the cap"
                f" of {self.cap:g}, then bisection between the highest passing and the lowest"
                f" failing rate until they are within {self.precision * 100:g} % (rates in "
                f"{grid}; a failure at the first rate walks down by the same factor)")

    def grid(self, x: float) -> float:
        return _on_grid(x, self.resolution)

    def next_rate(self, tried: Sequence[Outcome]) -> float | None:
        if not tried:
            return self.grid(self.start)
        iv = interval(self, tried)
        res = self.resolution
        if iv.hi is None:  # all passed so far: up, to the cap at most
            if iv.lo >= self.cap:
                return None
            return min(self.cap, max(self.grid(iv.lo * self.growth), self.grid(iv.lo + res)))
        if not iv.lo:  # nothing passed yet: down, to one resolution step at least
            if iv.hi <= res:
                return None
            return max(self.grid(res), min(self.grid(iv.hi / self.growth),
                                           self.grid(iv.hi - res)))
        if iv.hi <= iv.lo * (1 + self.precision):
            return None
        mid = min(max(self.grid(math.sqrt(iv.lo * iv.hi)), self.grid(iv.lo + res)),
                  self.grid(iv.hi - res))
        return mid if iv.lo < mid < iv.hi else None  # None: no grid rate left in between


@dataclass(frozen=True)
class FixedRates:
    """An explicit list (``--rates``): in order, up to the first failure."""

    rates: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.rates or any(r <= 0 for r in self.rates) \
                or any(b <= a for a, b in zip(self.rates, self.rates[1:], strict=False)):
            raise ValueError(f"FixedRates: need rising positive rates, got {self.rates}")

    @property
    def ceiling(self) -> float:
        return self.rates[-1]

    def describe(self) -> str:
        return (f"the fixed rates {', '.join(f'{r:g}' for r in self.rates)} calls/s, up to the"
                " first failure")

    def next_rate(self, tried: Sequence[Outcome]) -> float | None:
        if len(tried) >= len(self.rates) or any(not o.passed for o in tried):
            return None
        return self.rates[len(tried)]


def round_plan(searches: Mapping[str, Strategy], tried: Mapping[str, Sequence[Outcome]],
               round_no: int) -> list[tuple[str, float]]:
    """The steps of round ``round_no`` (from 0), in order: each variant still searching, at
    its own next rate; the variants' order (``searches``' order) rotates by one every round."""
    names = list(searches)
    if names:
        k = round_no % len(names)
        names = names[k:] + names[:k]
    plan: list[tuple[str, float]] = []
    for name in names:
        rate = searches[name].next_rate(tried.get(name, ()))
        if rate is not None:
            plan.append((name, rate))
    return plan


def run_search(searches: Mapping[str, Strategy],
               trial: Callable[[str, float], bool]) -> dict[str, list[Outcome]]:
    """Run every search to its end; ``trial(variant, rate)`` runs one step and says whether
    it passed. Returns each variant's outcomes in the order run."""
    tried: dict[str, list[Outcome]] = {name: [] for name in searches}
    round_no = 0
    while plan := round_plan(searches, tried, round_no):
        for name, rate in plan:
            tried[name].append(Outcome(rate, trial(name, rate)))
        round_no += 1
    return tried


def ratio_bounds(num: Interval, den: Interval) -> tuple[float, float]:
    """Bounds on (num's maximum) / (den's maximum): (num.lo / den.hi, num.hi / den.lo); 0.0
    or inf where an end is open (den never failed, num never failed, den never passed)."""
    low = num.lo / den.hi if den.hi else 0.0
    high = num.hi / den.lo if num.hi is not None and den.lo else math.inf
    return low, high


def passing_ratio(num: Interval, den: Interval) -> float:
    """num's highest passing rate / den's (nan when den never passed): what floors check."""
    return num.lo / den.lo if den.lo else math.nan
