"""The voice channel: calls whose flow ended "to queue" wait, ring an agent and talk here."""
