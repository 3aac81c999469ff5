"""SIPp scenario XML for Hotline's callers and agent phones.

A caller (``scenarios/uac_call.xml``) INVITEs the DID, then does its steps, then ends: the
steps are pauses, DTMF (SIP INFO ``application/dtmf-relay`` or RFC 2833 pcaps) and audio
pcaps; the end either waits for Asterisk's BYE or pauses and hangs up. ``uac_scenario``
builds a caller that walks a menu; ``uac_xml`` and the block functions build any other
(e.g. a caller that speaks: tests/integration/speech_rig.py).

Agent phones: ``uas_scenario`` (answer, ring then talk and hang up, never answer, busy).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal, NamedTuple

from bench.sipp.pcap import EVENTS, dtmf_pcap

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
INFO_DIGITS = set("0123456789*#ABCD")

DtmfMode = Literal["info", "rfc2833", "none"]
Ending = Literal["wait_bye", "hangup"]
AgentBehaviour = Literal["answer", "talk", "no_answer", "busy"]


class Label(NamedTuple):
    """How a caller names itself: scenario name (in SIPp's own messages, e.g. "receive
    timeout on message NAME"), From display name (the caller ID name), Subject."""

    name: str
    display: str
    subject: str


TEST_CALLER = Label("hotline uac call", "Hotline test", "Hotline integration test")
BENCH_CALLER = Label("hotline voice bench", "Hotline bench", "Hotline voice bench")


def pause(ms: int) -> str:
    return f'  <pause milliseconds="{int(ms)}"/>\n'


def info_dtmf(digit: str, cseq: int, duration_ms: int = 160) -> str:
    """One key press as a SIP INFO (``application/dtmf-relay``) and its 200 OK."""
    if len(digit) != 1 or digit not in INFO_DIGITS:
        raise ValueError(f"bad DTMF digit {digit!r}")
    return f"""
  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: {int(cseq)} INFO
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={digit}
      Duration={int(duration_ms)}
    ]]>
  </send>
  <recv response="200"/>
"""


def play_pcap(path: Path) -> str:
    """Start playing a pcap (RTP) and go on at once: it plays beside the scenario."""
    return f'  <nop><action><exec play_pcap_audio="{path}"/></action></nop>\n'


def rfc2833_dtmf(digit: str, position: int) -> str:
    """One key press as RFC 2833 RTP events (the ``position``-th of the call), and the
    250 ms it takes to play."""
    return "\n" + play_pcap(dtmf_pcap(digit, position)) + pause(250)


def end_wait_bye(timeout_ms: int) -> str:
    """Wait for Asterisk's BYE (at most ``timeout_ms``) and answer it."""
    return f"""
  <recv request="BYE" timeout="{int(timeout_ms)}"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:caller@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0
    ]]>
  </send>
  <timewait milliseconds="200"/>
"""


def end_hangup(after_ms: int, cseq: int) -> str:
    """Pause ``after_ms``, then hang up; a BYE from Asterisk during the pause fails the call."""
    return pause(after_ms) + f"""  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      CSeq: {int(cseq)} BYE
      Contact: <sip:caller@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""


def uac_xml(steps: str, end: str, *, caller: str = "caller",
            label: Label = TEST_CALLER) -> str:
    """The caller scenario with its ``steps`` (XML blocks) and ``end`` (``end_*``) filled in.

    ``caller`` is the user part of From (the caller ID Asterisk reports: a number, or a
    name for "unknown")."""
    if not caller or not all(ch.isalnum() or ch in "+-_." for ch in caller):
        raise ValueError(f"bad caller {caller!r}")
    for part in label:
        if not all(ch.isalnum() or ch in " -_." for ch in part):
            raise ValueError(f"bad scenario label {part!r}")
    text = (SCENARIOS / "uac_call.xml").read_text().replace("sip:caller@", f"sip:{caller}@")
    for key, value in (("@NAME@", label.name), ("@DISPLAY@", label.display),
                       ("@SUBJECT@", label.subject)):
        text = text.replace(key, value)
    return text.replace("<!-- DTMF -->", steps).replace("<!-- END -->", end)


def _check_digits(digits: str, mode: DtmfMode) -> None:
    if mode == "info" and not set(digits) <= INFO_DIGITS:
        raise ValueError(f"bad DTMF digits {digits!r}")
    if mode == "rfc2833" and not set(digits) <= set(EVENTS):
        raise ValueError(f"no RFC 2833 event for some of {digits!r}")


def uac_scenario(
    digits: str = "",
    *,
    mode: DtmfMode = "info",
    first_pause_ms: int = 1000,
    gap_ms: int = 300,
    ending: Ending = "wait_bye",
    hangup_after_ms: int = 3000,
    bye_timeout_ms: int = 30000,
    steps: Sequence[tuple[int, str]] | None = None,
    caller: str = "caller",
    info_duration_ms: int = 160,
    label: Label = TEST_CALLER,
) -> str:
    """A caller walking a menu: answer, DTMF ``digits`` by ``mode``, then ``ending``.

    ``steps`` replaces ``digits``/``first_pause_ms``: a list of (pause in ms, digits) -- wait,
    then press those keys ``gap_ms`` apart. ``info_duration_ms``: the INFO's Duration.

    ``wait_bye``: expect Asterisk to hang up within ``bye_timeout_ms`` (no pause after the
    last digit, so an early BYE is still taken). ``hangup``: pause ``hangup_after_ms`` after
    the digits and hang up; a BYE from Asterisk during that pause fails the call.
    """
    if steps is None:
        steps = [(first_pause_ms, digits)] if digits else []
    parts: list[str] = []
    cseq = 2
    position = 0
    for pause_ms, keys in steps:
        _check_digits(keys, mode if keys else "none")
        if pause_ms > 0:
            parts.append(pause(pause_ms))
        for i, digit in enumerate(keys):
            if i:
                parts.append(pause(gap_ms))
            if mode == "info":
                parts.append(info_dtmf(digit, cseq, info_duration_ms))
                cseq += 1
            else:
                parts.append(rfc2833_dtmf(digit, position))
            position += 1
    end = end_wait_bye(bye_timeout_ms) if ending == "wait_bye" else \
        end_hangup(hangup_after_ms, cseq)
    return uac_xml("".join(parts), end, caller=caller, label=label)


def uas_scenario(behaviour: AgentBehaviour = "answer", *, answer_after_ms: int = 1000,
                 talk_ms: int = 4000) -> str:
    """An agent phone's scenario XML.

    ``answer``: answer at once, wait for the BYE (scenarios/uas_agent.xml); ``talk``: ring
    ``answer_after_ms``, answer, talk ``talk_ms`` and hang up (uas_agent_talk.xml);
    ``no_answer``: ring until Asterisk cancels (uas_agent_noanswer.xml); ``busy``: 486.
    """
    if behaviour == "talk":
        text = (SCENARIOS / "uas_agent_talk.xml").read_text()
        return text.replace("ANSWER_AFTER_MS", str(int(answer_after_ms))).replace(
            "TALK_MS", str(int(talk_ms)))
    name = {"answer": "uas_agent.xml", "no_answer": "uas_agent_noanswer.xml",
            "busy": "uas_agent_busy.xml"}[behaviour]
    return (SCENARIOS / name).read_text()
