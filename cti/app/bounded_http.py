"""HTTP bodies bounded before they are read: Twisted's ``Request`` buffers the whole body
before the resource (or the WSGI app behind it) runs, so a 50 MB POST would be received in
full before Flask could answer 413. ``bounded_site`` refuses a declared ``Content-Length``
over the limit as soon as the headers are in, and stops a chunked body at the limit:
``413`` with a short JSON reason, then the connection is closed (nothing more is read).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from twisted.web.server import Request, Site

log = logging.getLogger(__name__)


def _refuse(request: Request, limit: int) -> None:
    body = json.dumps({"error": "too_large",
                       "message": f"request body over {limit} bytes"}).encode()
    transport: Any = request.channel.transport if request.channel is not None else None
    if transport is None:
        return
    transport.write(b"HTTP/1.1 413 Payload Too Large\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                    + b"\r\n\r\n" + body)
    transport.loseConnection()


class BoundedRequest(Request):
    """A request whose body may be at most ``max_body`` bytes (set per site)."""

    max_body = 64 * 1024
    _body_seen = 0
    _refused = False

    def gotLength(self, length: int | None) -> None:
        self._body_seen = 0
        self._refused = False
        if length is not None and length > self.max_body:
            self._refused = True
            log.info("http: refused a %d-byte body (limit %d)", length, self.max_body)
            _refuse(self, self.max_body)
            length = 0  # nothing more is buffered
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._body_seen += len(data)
        if self._body_seen > self.max_body:
            self._refused = True
            log.info("http: refused a chunked body over %d bytes", self.max_body)
            _refuse(self, self.max_body)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        if self._refused:
            return  # answered already: the resource never runs
        super().requestReceived(command, path, version)


def bounded_request(max_body: int) -> type[BoundedRequest]:
    """The request class of a site whose bodies are at most ``max_body`` bytes."""
    return type("Bounded", (BoundedRequest,), {"max_body": max_body})


def bounded_site(resource: Any, max_body: int) -> Site:
    """A ``Site`` for ``resource`` whose requests carry at most ``max_body`` body bytes."""
    site = Site(resource, requestFactory=bounded_request(max_body))
    site.displayTracebacks = False
    return site
