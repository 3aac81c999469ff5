"""The voice renderer: flows spoken through Asterisk AGI. No transport lives here (the AGI
and AudioSocket servers are ``cti.telephony``); every module is driven through ``driver``.

- ``driver``: the protocol between a call's code and its transport (``Send``/``Work``
  requests, ``Driver``, ``drive_blocking``, ``CallerGone``, ``AgiFailed``).
- ``session``: ``VoiceSession``, the one call driver both transports run; ``CallOutcome``.
- ``prompt_plan``: how a prompt sounds: the files it needs and the AGI lines that play it.
- ``exits``: which flow a call runs, what it brings, how an ``Exit`` goes to the dialplan.
- ``agi_codec``: the AGI wire format (pure): environment, replies, safe command lines.
- ``prompts``: prompt audio (espeak-ng / recordings) cached for Asterisk; ``prompt_memo``
  (what the reactor reads without I/O), ``prompt_tools`` (the external tools, their errors).
- ``speech``: Vosk models and grammars; ``speech_dialogue``: "say it or press it";
  ``listener``: what a speech menu needs from the audio listener (a protocol).
"""
