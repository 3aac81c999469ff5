"""The CTI service: the one owner of the routing engine (reactor thread), the gateway that
is the only door into live state, the channel protocol, and agent sessions that survive a
restart."""
