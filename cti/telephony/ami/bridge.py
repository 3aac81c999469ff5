"""AMI -> routing: what Asterisk says about agent phones and calls, as routing events.

- An agent phone that becomes unreachable (unregistered, UNAVAILABLE) while the agent is
  ready is made not ready (``unreachable``); ready again when the phone comes back.
- An agent phone in use by something Hotline did not route (a private call) makes a ready
  agent not ready (``busy_elsewhere``) until it is idle again.
- ``DialEnd`` with ``ANSWER`` for a call the voice channel is ringing is the moment the agent
  answered: ``VoiceChannel.answered(uniqueid, agent, agent_channel)`` (the call's driver only
  learns it when Dial returns, after the conversation; the agent's channel is what a
  transfer hangs up).
- After every (re)connection the snapshot of device states is applied the same way, so the
  availability of agents is rebuilt after an AMI reconnect or an Asterisk restart.
"""

from __future__ import annotations

import logging
from typing import Any

from cti.channels.voice.channel import VoiceChannel
from cti.routing import events as e
from cti.service.gateway import Gateway
from cti.telephony.ami.codec import Message
from cti.telephony.ami.events import AgentDevice, AgentMap, DialEnded, Resynced, translate

log = logging.getLogger(__name__)
SYSTEM_REASONS = ("unreachable", "busy_elsewhere")


class TelephonyBridge:
    def __init__(self, gateway: Gateway, voice: VoiceChannel, agents: AgentMap) -> None:
        self.gateway = gateway
        self.voice = voice
        self.agents = agents
        self.resyncs = 0

    def on_ami(self, item: Any) -> None:
        if isinstance(item, Resynced):
            self.resyncs += 1
            for device in item.snapshot.agents:
                self._device(device)
            log.info("cti: AMI resync #%d: %d agent devices, %d channels", self.resyncs,
                     len(item.snapshot.agents), len(item.snapshot.channels))
            return
        if isinstance(item, Message):
            event = translate(item, self.agents)
            if isinstance(event, AgentDevice):
                self._device(event)
            elif isinstance(event, DialEnded):
                self._dial_ended(event)

    def _device(self, device: AgentDevice) -> None:
        view = self.gateway.agent(device.agent_id)
        if view.state == "logged_out":
            return
        if view.state == "ready" and not device.available:
            self.gateway.command(e.AgentNotReady(device.agent_id, "unreachable"))
        elif view.state == "ready" and device.in_use and not view.connected and \
                view.offered is None:
            self.gateway.command(e.AgentNotReady(device.agent_id, "busy_elsewhere"))
        elif view.state == "not_ready" and view.reason in SYSTEM_REASONS and device.idle:
            self.gateway.command(e.AgentReady(device.agent_id))

    def _dial_ended(self, event: DialEnded) -> None:
        if event.status == "ANSWER" and event.agent_id is not None:
            self.voice.answered(event.uniqueid, event.agent_id, event.dest_channel)
