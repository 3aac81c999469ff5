"""Signed, expiring 'continue on your phone' links."""

from __future__ import annotations

import pytest

from ivr_flows.core.effects import Result, SendLink, State
from ivr_flows.core.model import Flow
from ivr_flows.edges.links import (
    LinkExpired,
    LinkSigner,
    LinkTampered,
    entered_vars,
    make_link_sender,
)
from ivr_flows.edges.sms import SmsError

T0 = 1_800_000_000.0


class FakeEpoch:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def signer(epoch: FakeEpoch, secret: str = "link-secret", ttl: int = 1800) -> LinkSigner:
    return LinkSigner(secret, "https://itr.example/", ttl, epoch=epoch)


def test_link_round_trips_flow_node_language_and_entered_values(demo_flow: Flow) -> None:
    epoch = FakeEpoch(T0)
    links = signer(epoch)
    url = links.make_link(demo_flow, "main", "en", {"order_id": "12345678",
                                                     "caller": "13800138000"})
    assert url.startswith("https://itr.example/l/")
    epoch.now = T0 + 60
    payload = links.read_link(url.rsplit("/", 1)[1])
    assert (payload.flow, payload.node, payload.lang) == ("demo_400", "main", "en")
    assert payload.vars == {"order_id": "12345678", "caller": "13800138000"}
    assert payload.issued == int(T0)


def test_link_never_carries_back_end_values(demo_flow: Flow) -> None:
    values = {"order_id": "12345678", "account_id": "A1001", "phone_last4": "8000",
              "lang": "zh", "caller": ""}
    assert entered_vars(demo_flow, values) == {"order_id": "12345678"}


def test_link_expires_after_its_time_to_live(demo_flow: Flow) -> None:
    epoch = FakeEpoch(T0)
    links = signer(epoch, ttl=1800)
    token = links.make_token(demo_flow, "main", "zh", {})
    epoch.now = T0 + 1800
    assert links.read_link(token).node == "main"
    epoch.now = T0 + 1801
    with pytest.raises(LinkExpired) as err:
        links.read_link(token)
    assert err.value.code == "link_expired"


@pytest.mark.parametrize("edit", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # signature
    lambda t: "x" + t,                                               # payload
    lambda t: t.split(".")[0],                                       # truncated
    lambda t: "",
])
def test_tampered_link_is_refused(demo_flow: Flow, edit: object) -> None:
    links = signer(FakeEpoch(T0))
    token = links.make_token(demo_flow, "main", "zh", {"order_id": "12345678"})
    with pytest.raises(LinkTampered) as err:
        links.read_link(edit(token))  # type: ignore[operator]
    assert err.value.code == "link_tampered"


def test_link_signed_with_another_secret_is_refused(demo_flow: Flow) -> None:
    token = signer(FakeEpoch(T0), secret="other").make_token(demo_flow, "main", "zh", {})
    with pytest.raises(LinkTampered):
        signer(FakeEpoch(T0)).read_link(token)


def test_link_to_an_unknown_node_is_not_made(demo_flow: Flow) -> None:
    with pytest.raises(ValueError):
        signer(FakeEpoch(T0)).make_token(demo_flow, "nowhere", "zh", {})


def test_signer_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        LinkSigner("", "https://itr.example", 60, epoch=FakeEpoch(T0))


class FakeSms:
    """Same signature as an ``SmsSender``; can refuse like a gateway does."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, text: str) -> None:
        if self.refuse:
            raise SmsError("gateway_refused", "no")
        self.sent.append((to, text))


def test_the_link_sender_texts_a_link_that_opens_at_the_resume_node(demo_flow: Flow) -> None:
    links = signer(FakeEpoch(T0))
    sms = FakeSms()
    state = State("demo_400", "send_menu_link", "en", {"caller": "13800138000",
                                                       "order_id": "12345678"})
    send = make_link_sender(links, sms)
    assert send(demo_flow, state, SendLink("send_menu_link", "main", "13800138000")) == \
        Result("ok", {})
    [(to, text)] = sms.sent
    assert to == "13800138000" and text.startswith("Youxuan Shop Customer Hotline: https://")
    payload = links.read_link(text.rsplit("/", 1)[1])
    assert (payload.node, payload.lang, payload.vars["order_id"]) == ("main", "en", "12345678")


@pytest.mark.parametrize("sms, to", [(None, "13800138000"), (FakeSms(), ""),
                                     (FakeSms(refuse=True), "13800138000")])
def test_no_sender_no_number_or_a_refused_text_is_an_error_result(
        demo_flow: Flow, sms: FakeSms | None, to: str) -> None:
    send = make_link_sender(signer(FakeEpoch(T0)), sms)
    state = State("demo_400", "send_menu_link", "zh", {"caller": to})
    assert send(demo_flow, state, SendLink("send_menu_link", "main", to)) == Result("error", {})

