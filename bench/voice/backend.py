"""The demo self-service back-end as its own process, for the voice benchmark.

    python -m bench.voice.backend --port 17081 [--access-log FILE]

Serves ``cti.demo_backend.create_demo_backend()`` on 127.0.0.1 with the stack the Hotline
server uses for its in-process copy (cti/server.py ``serve``/``_web``): Twisted's
``Site(WSGIResource(reactor, pool, app))`` on a ``ThreadPool(2..16)``. In its own process,
the bench can charge its CPU to every variant alike (Hotline over FastAGI, over pyst2 AGI,
and the native dialplan's ``CURL()``), instead of hiding it inside the Hotline server's
figure. ``--access-log`` writes one Combined Log Format line per request (the bench counts
the lookups of each step from it). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cti.demo_backend import create_demo_backend

LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


def listen(reactor: Any, pool: Any, port: int, access_log: str | None) -> Any:
    """The demo back-end's HTTP listener on 127.0.0.1:``port``; WSGI calls run in ``pool``."""
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    site = Site(WSGIResource(reactor, pool, create_demo_backend()), logPath=access_log)
    return reactor.listenTCP(port, site, interface=LOOPBACK)


def serve(port: int, access_log: str | None) -> int:
    from twisted.internet import reactor as global_reactor
    from twisted.python.threadpool import ThreadPool

    reactor: Any = global_reactor  # the one place the global reactor is taken
    pool = ThreadPool(minthreads=2, maxthreads=16, name="backend-web")  # as the server's web pool
    pool.start()
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    try:
        listen(reactor, pool, port, access_log)
    except BaseException:
        pool.stop()  # its threads would keep the process alive
        raise
    log.info("demo back-end on http://%s:%d/", LOOPBACK, port)
    reactor.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.voice.backend",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1")
    parser.add_argument("--access-log", help="append one line per request to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return serve(args.port, args.access_log)


if __name__ == "__main__":
    raise SystemExit(main())
