"""The chat benchmark's parts (``bench/chat_bench.py`` is the command): ``ledger`` (the pure
accounting: sent, acknowledged, delivered, latency, lost, duplicated, out of order, stalls),
``server`` (the database, the desktop users, ``hotline run`` as its own process, /proc),
``peers`` (one asyncio WebSocket client per customer and agent), ``load`` (the phases: connect,
open the chats, the measured window), ``journal_ops`` (the chat journal's operations timed
alone), ``report`` (the tables and the RESULTS.md section).
"""
