"""Self-service actions on the reactor: the same calls as ``actions.ActionRunner``, without a
thread.

FastAGI runs every call on the reactor thread; a blocking lookup there has to hop to a thread
pool and back (a queue, two locks, a wake-up of the reactor, a Deferred), which cost about as
much CPU as the HTTP request itself. ``ReactorActionRunner.start(flow, act)`` sends the
request with Twisted's own HTTP client (``twisted.web.client.Agent`` over a persistent
connection pool) and returns a Deferred that fires with the ``Result``; it never fails.
What is asked and how the answer is read are shared with the blocking runner
(``request_of`` / ``interpret``): one URL template, one timeout (a total deadline for the
whole exchange, body included), one size limit, one mapping into variables.
"""

from __future__ import annotations

import json
import logging
import time
from io import BytesIO
from typing import Any

from twisted.internet import defer, error, protocol
from twisted.python.failure import Failure
from twisted.web.client import Agent, FileBodyProducer, HTTPConnectionPool, ResponseDone
from twisted.web.http_headers import Headers

from ivr_flows.core.effects import Act, Result
from ivr_flows.core.model import ActionSpec, Flow
from ivr_flows.edges.actions import (
    MAX_REPLY_BYTES,
    UnsafeArgument,
    interpret,
    refused,
    request_of,
)

log = logging.getLogger(__name__)
_ACCEPT = Headers({b"accept": [b"application/json"]})
_JSON = Headers({b"accept": [b"application/json"], b"content-type": [b"application/json"]})


class _Body(protocol.Protocol):
    """Collects a response body up to ``MAX_REPLY_BYTES + 1`` bytes, then stops reading.
    ``done`` fires with the bytes; cancelling it (the deadline passed while the body
    trickles in) drops the connection."""

    def __init__(self) -> None:
        self.done: defer.Deferred[bytes] = defer.Deferred(self._drop)
        self.parts: list[bytes] = []
        self.size = 0

    def _drop(self, _done: defer.Deferred[bytes]) -> None:
        if self.transport is not None:
            self.transport.stopProducing()

    def dataReceived(self, data: bytes) -> None:
        if self.done.called:
            return
        self.parts.append(data)
        self.size += len(data)
        if self.size > MAX_REPLY_BYTES:
            self.done.callback(b"".join(self.parts)[: MAX_REPLY_BYTES + 1])
            self._drop(self.done)

    def connectionLost(self, reason: Failure = Failure(ResponseDone())) -> None:  # noqa: B008
        if not self.done.called:
            if reason.check(ResponseDone, error.ConnectionDone) or not self.parts:
                self.done.callback(b"".join(self.parts))
            else:
                self.done.errback(reason)


class ReactorActionRunner:
    """Runs flow actions against ``base_url`` on the reactor (call ``start`` there only)."""

    def __init__(self, reactor: Any, base_url: str, max_connections: int = 32) -> None:
        self.reactor = reactor
        self.base_url = base_url.rstrip("/")
        self.pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool.maxPersistentPerHost = max_connections
        self.pool.retryAutomatically = False
        self.agent = Agent(reactor, pool=self.pool)

    def close(self) -> defer.Deferred[Any]:
        return self.pool.closeCachedConnections()

    def start(self, flow: Flow, act: Act) -> defer.Deferred[Result]:
        spec = flow.actions.get(act.action)
        if spec is None:
            log.error("flow %s: unknown action %s", flow.name, act.action)
            return defer.succeed(Result("error", {}))
        try:
            method, url, body = request_of(spec, dict(act.args), self.base_url)
        except UnsafeArgument as exc:
            return defer.succeed(refused(spec, exc))
        started = time.monotonic()
        d: Any = self._exchange(method, url, body)  # Deferred[(status, body)] -> Result
        expired: list[bool] = []

        def expire() -> None:  # the deadline of the whole exchange, body included
            expired.append(True)
            d.cancel()

        deadline = self.reactor.callLater(spec.timeout_s, expire)

        def settled(answer: Any) -> Any:
            if deadline.active():
                deadline.cancel()
            return answer

        d.addBoth(settled)
        d.addCallbacks(lambda answer: interpret(spec, *answer),
                       lambda failure: self._failed(spec, failure, timed_out=bool(expired)))

        def logged(result: Result) -> Result:
            if log.isEnabledFor(logging.INFO):
                log.info("action %s/%s -> %s in %.0f ms", flow.name, spec.name, result.outcome,
                         (time.monotonic() - started) * 1000)
            return result

        d.addCallback(logged)
        return d

    def _exchange(self, method: str, url: str, body: dict[str, str] | None
                  ) -> defer.Deferred[tuple[int, bytes]]:
        producer: Any = FileBodyProducer(BytesIO(json.dumps(body).encode())) \
            if body is not None else None
        d: Any = self.agent.request(method.encode(), url.encode(), _JSON if body else _ACCEPT,
                                    producer)

        def read(response: Any) -> defer.Deferred[tuple[int, bytes]]:
            reader = _Body()
            response.deliverBody(reader)
            return reader.done.addCallback(lambda content: (response.code, content))

        return d.addCallback(read)

    def _failed(self, spec: ActionSpec, failure: Failure, *, timed_out: bool) -> Result:
        # cancelled at the deadline, the request fails with whatever the phase it was in
        # says (CancelledError, ResponseNeverReceived, ResponseFailed ...): the flag decides
        if timed_out or failure.check(defer.TimeoutError, defer.CancelledError):
            log.warning("action %s: back-end timed out after %.1f s", spec.name, spec.timeout_s)
            return Result("error", {"error": "timeout"})
        log.warning("action %s: back-end unreachable: %s", spec.name,
                    failure.type.__name__ if failure.type else "error")
        return Result("error", {"error": "unreachable"})
