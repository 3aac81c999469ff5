"""Telephony adapter of the CTI: the Asterisk Manager Interface (AMI).

``ami_codec`` is the pure wire format (no sockets, no Twisted); ``events`` turns AMI
messages into typed telephony events and resync snapshots (pure); ``ami`` is the Twisted
protocol and the reconnecting ``AmiClient``.
"""
