"""Signed, expiring "continue on your phone" links into the touch menu (ITR).

The voice menu offers "get this menu on your phone": it texts the caller a link that opens the
touch page at a node, in the caller's language, with what the caller already entered (their
order number, say). The token is signed (itsdangerous, the configured secret) so nobody can
forge one, and it expires (``max_age_s``, from ``itr.link_ttl_seconds``).

Only variables the caller entered themselves (collect nodes' variables), the number the link
was sent to (``caller``) and the language travel in a link: back-end answers (account ids and
the like) never appear in a URL.

Time is a parameter: ``epoch`` is a callable returning seconds since the epoch (the
composition root passes ``time.time``; tests pass a fake).

``make_link_sender(links, sms)`` is what both renderers run for a ``SendLink`` effect: sign
the link, text it, answer the interpreter with a ``Result``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner

from ivr_flows.core.effects import Result, SendLink, State
from ivr_flows.core.model import CollectNode, Flow
from ivr_flows.edges.sms import SmsError, SmsSender

log = logging.getLogger(__name__)
# What a renderer calls for a ``SendLink`` effect (blocking: from a thread on FastAGI).
LinkSender = Callable[[Flow, State, SendLink], Result]

LINK_SALT = "hotline.itr.link.v1"
ALWAYS_CARRIED = frozenset({"caller"})


class LinkError(ValueError):
    """A link token cannot be used; ``code`` is stable and machine-readable."""

    code = "link_invalid"


class LinkTampered(LinkError):
    code = "link_tampered"


class LinkExpired(LinkError):
    code = "link_expired"


@dataclass(frozen=True)
class LinkPayload:
    flow: str
    node: str
    lang: str
    vars: Mapping[str, str]
    issued: int  # seconds since the epoch


def entered_vars(flow: Flow, values: Mapping[str, str]) -> dict[str, str]:
    """The variables a link may carry: what the caller typed in, and the number texted."""
    allowed = {n.var for n in flow.nodes.values() if isinstance(n, CollectNode)} | ALWAYS_CARRIED
    return {k: str(v) for k, v in values.items() if k in allowed and v != ""}


class LinkSigner:
    def __init__(self, secret: str, base_url: str, max_age_s: int,
                 epoch: Callable[[], float]) -> None:
        if not secret:
            raise ValueError("LinkSigner needs a non-empty secret")
        self.base_url = base_url.rstrip("/")
        self.max_age_s = max_age_s
        self._epoch = epoch

        class _Signer(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(epoch())

        self._serializer = URLSafeTimedSerializer(secret, salt=LINK_SALT, signer=_Signer)

    def make_token(self, flow: Flow, node: str, lang: str, values: Mapping[str, str]) -> str:
        if node not in flow.nodes:
            raise LinkError(f"flow {flow.name} has no node {node!r}")
        payload = {"f": flow.name, "n": node, "l": lang, "v": entered_vars(flow, values),
                   "t": int(self._epoch())}
        return str(self._serializer.dumps(payload))

    def make_link(self, flow: Flow, node: str, lang: str, values: Mapping[str, str]) -> str:
        return f"{self.base_url}/l/{self.make_token(flow, node, lang, values)}"

    def read_link(self, token: str, max_age_s: int | None = None) -> LinkPayload:
        """Check and decode a token; raises LinkTampered or LinkExpired."""
        age = self.max_age_s if max_age_s is None else max_age_s
        try:
            data: Any = self._serializer.loads(token, max_age=age)
        except SignatureExpired as exc:
            raise LinkExpired("this link has expired") from exc
        except (BadSignature, BadData) as exc:
            raise LinkTampered("this link is not valid") from exc
        try:
            values = data["v"]
            return LinkPayload(flow=str(data["f"]), node=str(data["n"]), lang=str(data["l"]),
                               vars={str(k): str(v) for k, v in values.items()},
                               issued=int(data["t"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise LinkTampered("this link is not valid") from exc


def make_link_sender(links: LinkSigner, sms: SmsSender | None) -> LinkSender:
    """Text the caller a signed link to the touch menu, opening at the effect's ``resume``.

    ``sms`` None (no texting configured) or no number to text: ``Result("error")``, and the
    flow says honestly that nothing was sent. A refused message is an error too (logged by
    its stable code, never with the number)."""

    def send_link(flow: Flow, state: State, link: SendLink) -> Result:
        if sms is None or not link.to:
            return Result("error", {})
        url = links.make_link(flow, link.resume or flow.start, state.lang, state.vars)
        try:
            sms.send(link.to, f"{flow.title.get(state.lang, flow.name)}: {url}")
        except SmsError as exc:
            log.warning("flow %s: link not texted: %s", flow.name, exc.code)
            return Result("error", {})
        return Result("ok", {})

    return send_link
