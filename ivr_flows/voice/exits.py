"""Where a call meets the dialplan: which flow it runs, what it brings, how it is handed back.

- ``flow_name(env)``: the flow a call asks for (FastAGI path or classic AGI argument).
- ``caller_vars(env)``: the flow variables a call starts with (a plausible caller number).
- ``exit_variables(exit, state)``: the SET VARIABLE lines of an ``Exit``. HOTLINE_EXIT,
  HOTLINE_QUEUE / HOTLINE_TRANSFER_TO / HOTLINE_CALLBACK_NUMBER, HOTLINE_PRIORITY,
  HOTLINE_LANG (queue and callback exits only), and last HOTLINE_DONE=1; the dialplan routes
  on them. As few commands as the exit needs: each is a round trip, and keys pressed between
  two AGI commands are lost. A target that fails validation leaves HOTLINE_DONE unset, so
  the dialplan's fallback takes the call.
- ``reject(reason)``: a call we cannot run (unknown flow) goes to the fallback, saying why.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from ivr_flows.core.effects import Exit, State
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import Driver, Send

log = logging.getLogger(__name__)

_CALLER = re.compile(r"\+?[0-9]{3,20}")
_QUEUE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TRANSFER = re.compile(r"[A-Za-z0-9_+*#@./-]{1,80}")
_FLOW_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def caller_vars(env: Mapping[str, str]) -> dict[str, str]:
    """Flow variables from the AGI environment: only a plausible caller number travels."""
    number = env.get("agi_callerid", "")
    return {"caller": number if _CALLER.fullmatch(number) else ""}


def flow_name(env: Mapping[str, str]) -> str:
    """FastAGI: the path of ``agi://host:port/<flow>``; classic AGI: the first argument."""
    script = env.get("agi_network_script", "")
    if script or env.get("agi_network") == "yes":
        name = script.split("?", 1)[0].strip("/")
    else:
        name = env.get("agi_arg_1", "")
    return name if _FLOW_NAME.fullmatch(name) else ""


def exit_variables(ex: Exit, state: State) -> list[str]:
    """SET VARIABLE lines that hand the call to the dialplan; HOTLINE_DONE=1 comes last.

    A target that fails validation leaves HOTLINE_DONE unset (the dialplan fallback runs)."""
    lines = [agi.set_variable("HOTLINE_EXIT", ex.kind)]
    ok = True
    if ex.kind in ("queue", "callback"):  # the dialplan's queue announcements speak it
        lines.append(agi.set_variable("HOTLINE_LANG",
                                      state.lang if _QUEUE.fullmatch(state.lang) else ""))
        ok = bool(_QUEUE.fullmatch(ex.target))
        lines.append(agi.set_variable("HOTLINE_QUEUE", ex.target if ok else ""))
        lines.append(agi.set_variable("HOTLINE_PRIORITY", str(int(ex.priority))))
    if ex.kind == "callback":
        number = ex.attributes.get("number", "")
        lines.append(agi.set_variable("HOTLINE_CALLBACK_NUMBER",
                                      number if _CALLER.fullmatch(number) else ""))
    if ex.kind == "transfer":
        ok = bool(_TRANSFER.fullmatch(ex.target))
        lines.append(agi.set_variable("HOTLINE_TRANSFER_TO", ex.target if ok else ""))
    if ok:
        lines.append(agi.set_variable("HOTLINE_DONE", "1"))
    else:
        log.error("exit %s at %s: target %r is not safe for the dialplan; fallback runs",
                  ex.kind, ex.node, ex.target[:40])
    return lines


def reject(reason: str) -> Driver[None]:
    """For a call we cannot run (unknown flow): make sure HOTLINE_DONE is unset, say why."""
    for line in (agi.set_variable("HOTLINE_DONE", ""),
                 agi.set_variable("HOTLINE_ERROR", reason)):
        reply = yield Send(line)
        if isinstance(reply, agi.Reply) and reply.gone:
            return
