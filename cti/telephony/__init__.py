"""Telephony: everything that holds a socket to Asterisk.

- ``ami/``: the Asterisk Manager Interface: pure codec, typed events and resync snapshots,
  the reconnecting Twisted client, and the bridge that turns what AMI says into routing
  events and voice-channel facts;
- ``agi/``: FastAGI (our Twisted server; one connection per call drives the voice session)
  and the classic process-per-call script over pyst2;
- ``audiosocket/``: caller audio streamed to the speech recogniser.

``ivr_flows`` renders a flow into AGI requests but never imports this package.
"""
