"""The pure AMI codec and event translation."""

from __future__ import annotations

import pytest

from cti.telephony.ami.codec import (
    ActionIds,
    AmiCodecError,
    AmiValueError,
    Banner,
    Message,
    StreamDecoder,
    format_action,
    parse_banner,
    parse_message,
)
from cti.telephony.ami.events import (
    AgentDevice,
    AgentMap,
    AgentRegistered,
    AgentUnregistered,
    AsteriskBooted,
    ChannelHungUp,
    translate,
)

AGENTS = AgentMap.from_agents(["agent1001", "agent1002"])


def test_banner() -> None:
    assert parse_banner("Asterisk Call Manager/11.0.0\r\n") == "11.0.0"
    with pytest.raises(AmiCodecError):
        parse_banner("HTTP/1.1 400 Bad Request")


def test_keys_case_insensitive_repeated_kept_values_with_colons() -> None:
    msg = parse_message(
        ["Event: VarSet", "ChanVariable: a=1", "chanvariable: b=2", "Value: sip:x@1.2.3.4:5060"]
    )
    assert msg.kind == "event" and msg.name == "VarSet"
    assert msg.get("CHANVARIABLE") == "a=1"
    assert msg.get_all("ChanVariable") == ["a=1", "b=2"]
    assert msg.get("value") == "sip:x@1.2.3.4:5060"
    assert msg.as_dict()["ChanVariable"] == ["a=1", "b=2"]
    assert "Value" in msg and "Missing" not in msg


def test_response_classification_and_stray_lf() -> None:
    msg = parse_message(["Response: Error", "ActionID: h-4", "Message: No Contacts found\n"])
    assert msg.kind == "response" and not msg.is_success
    assert msg.action_id == "h-4" and msg.get("Message") == "No Contacts found"


def test_message_split_across_tcp_chunks() -> None:
    data = (
        b"Asterisk Call Manager/11.0.0\r\nResponse: Success\r\nActionID: h-1\r\n\r\n"
        b"Event: Hangup\r\nUniqueid: 1.2\r\nCause: 16\r\n\r\n"
    )
    for size in (1, 2, 3, 7, 64):
        dec = StreamDecoder()
        out: list[Banner | Message] = []
        for i in range(0, len(data), size):
            out += dec.feed(data[i : i + size])
        assert out[0] == Banner("11.0.0")
        assert [m.name for m in out[1:] if isinstance(m, Message)] == ["Success", "Hangup"]


def test_format_action_and_repeated_values() -> None:
    fields = {"Channel": "PJSIP/agent1001", "Variable": ["a=1", "b=2"]}
    data = format_action("Originate", "h-1", fields)
    assert data == (
        b"Action: Originate\r\nActionID: h-1\r\nChannel: PJSIP/agent1001\r\n"
        b"Variable: a=1\r\nVariable: b=2\r\n\r\n"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"Channel": "PJSIP/x\r\nAction: Command"},
        {"Channel": "PJSIP/x\nAction: Command"},
        {"Channel": "PJSIP/x\rAction: Command"},
        {"Variable": ["ok=1", "bad=2\r\n\r\nAction: Hangup"]},
        {"Secret": "s3cret\x00"},
        {"Bad Key": "x"},
        {"Bad:Key": "x"},
        {"ActionID": "mine"},
    ],
)
def test_injection_attempts_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(AmiValueError) as exc:
        format_action("Hangup", "h-1", fields)  # type: ignore[arg-type]
    assert "s3cret" not in str(exc.value)


def test_action_ids_are_unique() -> None:
    ids = ActionIds("hotline1")
    assert len({ids() for _ in range(100)}) == 100
    with pytest.raises(AmiValueError):
        ActionIds("bad prefix")


def _event(*lines: str) -> Message:
    return parse_message(list(lines))


def test_device_states_of_agents() -> None:
    def dev(state: str) -> object:
        return translate(_event("Event: DeviceStateChange", "Device: PJSIP/agent1001",
                                f"State: {state}"), AGENTS)

    assert dev("NOT_INUSE") == AgentDevice("agent1001", "NOT_INUSE", True, False, False)
    assert dev("INUSE") == AgentDevice("agent1001", "INUSE", True, True, False)
    assert dev("RINGING") == AgentDevice("agent1001", "RINGING", True, False, True)
    assert dev("UNAVAILABLE") == AgentDevice("agent1001", "UNAVAILABLE", False, False, False)
    other = _event("Event: DeviceStateChange", "Device: PJSIP/carrier", "State: INUSE")
    assert translate(other, AGENTS) is None
    queue = _event("Event: DeviceStateChange", "Device: Queue:backup_avail", "State: INUSE")
    assert translate(queue, AGENTS) is None


def test_registration_events() -> None:
    created = _event("Event: ContactStatus", "URI: sip:agent1001@127.0.0.1:5070",
                     "ContactStatus: Created", "AOR: agent1001", "EndpointName: agent1001")
    uri = "sip:agent1001@127.0.0.1:5070"
    assert translate(created, AGENTS) == AgentRegistered("agent1001", uri)
    removed = _event("Event: ContactStatus", "ContactStatus: Removed", "AOR: agent1002",
                     "EndpointName: agent1002")
    assert translate(removed, AGENTS) == AgentUnregistered("agent1002", "Removed")
    peer = _event("Event: PeerStatus", "ChannelType: PJSIP", "Peer: PJSIP/agent1001",
                  "PeerStatus: Unreachable")
    assert translate(peer, AGENTS) == AgentUnregistered("agent1001", "Unreachable")


def test_hangup_boot_and_unknown_events() -> None:
    hangup = _event("Event: Hangup", "Channel: PJSIP/agent1001-00000001", "Uniqueid: 1.1",
                    "Linkedid: 1.0", "Cause: 16", "Cause-txt: Normal Clearing")
    assert translate(hangup, AGENTS) == ChannelHungUp(
        "1.1", "1.0", "PJSIP/agent1001-00000001", 16, "Normal Clearing", "agent1001"
    )
    assert translate(_event("Event: FullyBooted", "Status: Fully Booted"), AGENTS) == (
        AsteriskBooted()
    )
    assert translate(_event("Event: TestEvent", "Type: StateChange"), AGENTS) is None
    assert translate(_event("Response: Success", "Ping: Pong"), AGENTS) is None
