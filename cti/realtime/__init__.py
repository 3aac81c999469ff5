"""The realtime transport: one WebSocket (autobahn on Twisted) for the chat widget, the agent
desktop and the wallboard. Framing, limits, Origin check, hello deadline and connection
bookkeeping live here; what a frame *means* belongs to the application plugged into it
(``cti.realtime.connection.Application``). See docs/REALTIME.md."""
