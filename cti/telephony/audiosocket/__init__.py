"""Asterisk AudioSocket: caller audio and keys streamed to Hotline for speech menus."""
