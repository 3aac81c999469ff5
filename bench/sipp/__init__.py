"""The one SIPp helper of the integration tests and the voice benchmark (a load and test
tool, not product: ``cti``, ``ivr_flows``, ``web_admin`` and ``asterisk_conf`` never import
it; tests and bench do).

- ``scenario``: scenario XML -- callers that walk a menu by SIP INFO or RFC 2833 DTMF
  (``uac_scenario``), their building blocks (``info_dtmf``, ``play_pcap``, ``end_wait_bye``
  ...), agent phones (``uas_scenario``); the templates are in ``scenarios/``.
- ``pcap``: RFC 2833 key presses as pcaps whose timestamps rise through the call.
- ``run``: bounded SIPp runs on 127.0.0.1 -- ``run_uac`` (test calls), ``Uas`` (an agent
  phone in the background), ``run_load`` (a load step with SIPp's statistics).
"""

from bench.sipp.pcap import dtmf_pcap
from bench.sipp.run import (
    LOOPBACK,
    LoadResult,
    SippResult,
    Uas,
    free_media_port,
    free_port,
    run_load,
    run_uac,
    sipp_path,
)
from bench.sipp.scenario import (
    BENCH_CALLER,
    SCENARIOS,
    TEST_CALLER,
    AgentBehaviour,
    DtmfMode,
    Ending,
    Label,
    end_hangup,
    end_wait_bye,
    info_dtmf,
    pause,
    play_pcap,
    uac_scenario,
    uac_xml,
    uas_scenario,
)

__all__ = [
    "BENCH_CALLER", "LOOPBACK", "SCENARIOS", "TEST_CALLER", "AgentBehaviour", "DtmfMode",
    "Ending", "Label", "LoadResult", "SippResult", "Uas", "dtmf_pcap", "end_hangup",
    "end_wait_bye", "free_media_port", "free_port", "info_dtmf", "pause", "play_pcap",
    "run_load", "run_uac", "sipp_path", "uac_scenario", "uac_xml", "uas_scenario",
]
