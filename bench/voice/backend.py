"""The demo self-service back-end as its own process, for the voice benchmark.

    python -m bench.voice.backend --port 17081 [--access-log FILE]

Serves ``cti.demo.backend.create_demo_backend()`` on 127.0.0.1 with the stack the Hotline
server uses for its in-process copy (cti/app/server.py ``serve``/``_web``): Twisted's
``Site(WSGIResource(reactor, pool, app))`` on a ``ThreadPool(2..16)``. In its own process,
the bench can charge its CPU to every variant alike (Hotline over FastAGI, over pyst2 AGI,
and the native dialplan's ``CURL()``), instead of hiding it inside the Hotline server's
figure. ``--access-log`` appends one line per request, written through at once (the bench
counts the lookups of each step from it). Runs until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from cti.demo.backend import create_demo_backend

LOOPBACK = "127.0.0.1"
log = logging.getLogger(__name__)


def logged(app: Any, path: str) -> Any:
    """The WSGI ``app``, appending one line per request ("METHOD PATH") to ``path``, written
    through at once (the bench counts each step's lookups from it while the process runs)."""
    out = open(path, "a", buffering=1, encoding="utf-8")

    def wrapper(environ: dict[str, Any], start_response: Any) -> Any:
        out.write(f'"{environ.get("REQUEST_METHOD", "")} {environ.get("PATH_INFO", "")}"\n')
        return app(environ, start_response)

    return wrapper


def listen(reactor: Any, pool: Any, port: int, access_log: str | None) -> Any:
    """The demo back-end's HTTP listener on 127.0.0.1:``port``; WSGI calls run in ``pool``."""
    from twisted.web.server import Site
    from twisted.web.wsgi import WSGIResource

    app = create_demo_backend()
    site = Site(WSGIResource(reactor, pool, logged(app, access_log) if access_log else app))
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
