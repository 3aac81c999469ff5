"""The voice renderer: flows spoken through Asterisk AGI.

- ``agi_codec``: the AGI wire format (pure): environment, replies, safe command lines.
- ``renderer``: ``VoiceSession``, the one call driver (a generator) both transports run.
- ``fastagi``: our Twisted FastAGI server (the default).
- ``agi_script``: classic process-per-call AGI over pyst2 (``hotline-agi``).
- ``prompts``: prompt audio (espeak-ng / recordings) cached for Asterisk.
"""
