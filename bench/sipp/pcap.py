"""RFC 2833 DTMF as pcap files for SIPp's ``play_pcap_audio``.

The shipped pcaps (``/usr/share/sip-tester/dtmf_2833_*.pcap``) share one SSRC and rising
timestamps in the order 1..9, *, #, 0; a digit played after a "later" one may be dropped as a
duplicate end-of-event. So the scenarios play pcaps made here instead (``dtmf_pcap``): the
shipped packet layout, with a sequence number and timestamp that rise with the digit's
position in the call, so any sequence (repeats too: "1", "12345678", "1") arrives as separate
key presses. Playing pcaps needs root.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

PCAP_DIR = Path("/usr/share/sip-tester")
PCAP_CACHE = Path(tempfile.gettempdir()) / f"hotline-dtmf-pcaps-{os.getuid()}"
EVENTS = {**{str(d): d for d in range(10)}, "*": 10, "#": 11}


def dtmf_pcap(digit: str, position: int) -> Path:
    """An RFC 2833 pcap for ``digit`` as the ``position``-th key press of a call.

    Built from the shipped ``dtmf_2833_1.pcap`` (Ethernet/IPv4/UDP/RTP, 10 packets: start,
    rising durations, three end packets): event, sequence numbers and RTP timestamp are
    rewritten so they rise with ``position``; the UDP checksum is cleared (0 = none, IPv4).
    """
    if digit not in EVENTS:
        raise ValueError(f"no RFC 2833 event for {digit!r}")
    out = PCAP_CACHE / f"dtmf_{EVENTS[digit]:02d}_{position:03d}.pcap"
    if out.exists():
        return out
    raw = (PCAP_DIR / "dtmf_2833_1.pcap").read_bytes()
    parts = [raw[:24]]
    offset, first_seq = 24, None
    while offset < len(raw):
        head = raw[offset:offset + 16]
        incl = struct.unpack("<IIII", head)[2]
        pkt = bytearray(raw[offset + 16:offset + 16 + incl])
        offset += 16 + incl
        udp = 14 + (pkt[14] & 15) * 4
        rtp = udp + 8
        seq = struct.unpack(">H", pkt[rtp + 2:rtp + 4])[0]
        first_seq = seq if first_seq is None else first_seq
        new_seq = (1000 + position * 16 + seq - first_seq) & 0xFFFF
        struct.pack_into(">HII", pkt, rtp + 2, new_seq, 8000 + position * 8000, 0x484F544C)
        pkt[rtp + 12] = EVENTS[digit]
        pkt[udp + 6:udp + 8] = b"\0\0"
        parts += [head, bytes(pkt)]
    PCAP_CACHE.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(b"".join(parts))
    tmp.replace(out)
    return out
