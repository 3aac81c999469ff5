"""Channels: one package per medium (voice now; chat, web session, callback next).

A channel turns what happens on its medium into routing events for the CTI service and
carries the engine's commands (offer, cancel, connect, exit) back to its contacts, behind
the one ``cti.service.channel.Channel`` protocol."""
