"""What agents do (log in, ready, not ready, wrap up) as use cases with stable errors, and
the HTTP API in front of them. Live state only through the gateway (``cti.service``)."""
