"""The realtime application: what each WebSocket connection is, decided by its ``hello``.

``cti.realtime`` (transport: framing, limits, Origin) hands every parsed frame here. The
first frame must be ``hello``: ``role: customer`` goes to the chat channel's customer
frames, ``role: agent`` to the desktop's agent frames once the desktop session cookie is
checked (a database read, off the reactor thread). Everything after ``hello`` goes to the
handler of the connection's principal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cti.agents.desktop.agent_ws import AgentFrames, DeskAgent
from cti.channels.chat.customer import CustomerFrames, Visitor
from cti.realtime.core.frames import FrameError

log = logging.getLogger(__name__)
DESK_COOKIE = "hotline_desk"

# (session token, done(DeskAgent | None)): looks the session up off the reactor thread.
SessionLookup = Callable[[str, Callable[[DeskAgent | None], None]], None]


@dataclass
class RealtimeApp:
    customers: CustomerFrames
    agents: AgentFrames
    sessions: SessionLookup

    def on_open(self, conn: Any) -> None:
        pass

    def on_frame(self, conn: Any, frame: Mapping[str, Any]) -> None:
        who = conn.principal
        if who is None:
            if frame["t"] != "hello":
                raise FrameError("hello_first", "send hello first")
            self._hello(conn, frame)
        elif isinstance(who, Visitor):
            if frame["t"] == "hello":
                raise FrameError("already_hello", "hello was already sent")
            self.customers.frame(conn, who, frame)
        elif isinstance(who, DeskAgent):
            if frame["t"] == "hello":
                raise FrameError("already_hello", "hello was already sent")
            self.agents.frame(conn, who, frame)
        else:  # the agent's session is being checked
            raise FrameError("not_ready", "wait for welcome")

    def _hello(self, conn: Any, frame: Mapping[str, Any]) -> None:
        role = frame.get("role")
        if role == "customer":
            self.customers.hello(conn, frame)
        elif role == "agent":
            token = conn.cookies.get(DESK_COOKIE, "")
            conn.principal = "checking"

            def checked(who: DeskAgent | None) -> None:
                if who is None:
                    conn.send({"t": "error", "code": "not_signed_in",
                               "message": "sign in to the desktop", "ref": None})
                    conn.close(4003, "not signed in")
                    return
                self.agents.hello(conn, who, frame)

            if not token:
                checked(None)
            else:
                self.sessions(token, checked)
        else:
            raise FrameError("bad_field", "role is customer or agent")

    def on_close(self, conn: Any, code: int | None = None) -> None:
        who = conn.principal
        box = getattr(who, "box", None)
        if box is not None:
            self.customers.channel.drop(box)
