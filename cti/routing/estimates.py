"""Estimated wait time, from recent handle times and the staffing that serves a queue.

EWT for a contact at ``position`` (1-based) = ``position * AHT / servers``, where AHT is an
exponentially weighted average of recent handle times (talk + wrap-up) and ``servers`` the
capacity of logged-in agents not in "not ready" that are eligible for the contact (a chat
agent counts ``max_chats`` times). No staffing means no honest estimate: ``None``.
"""

from __future__ import annotations

ALPHA = 0.2


class HandleTime:
    """Exponentially weighted average handle time, seeded with the configured default."""

    __slots__ = ("samples", "value")

    def __init__(self, default_s: float) -> None:
        self.value = default_s
        self.samples = 0

    def add(self, handle_s: float) -> None:
        handle_s = max(handle_s, 0.0)
        self.value = handle_s if self.samples == 0 else (
            ALPHA * handle_s + (1 - ALPHA) * self.value)
        self.samples += 1


def estimated_wait(position: int, handle_s: float, servers: int) -> float | None:
    if servers <= 0:
        return None
    return round(position * handle_s / servers, 1)
