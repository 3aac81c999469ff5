"""AGI transports that drive ``ivr_flows.voice`` sessions: ``fastagi`` (Twisted server, one
connection per call) and ``pyst2_script`` (classic process-per-call AGI; the process's entry
point, ``hotline-agi``, is ``cti.app.agi_main``)."""
