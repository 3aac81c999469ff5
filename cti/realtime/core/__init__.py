"""The pure part of the realtime layer: frame parsing and encoding, field checks, the rate
bucket, Origin and Cookie parsing. No I/O, no clock (time is a parameter), no Twisted."""
