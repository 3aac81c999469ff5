"""Our Twisted FastAGI server: Asterisk connects once per call (``AGI(agi://host:port/<flow>)``).

One ``FastAgiProtocol`` per connection: it reads the ``agi_*`` environment, picks the flow
from ``agi_network_script``, and drives the shared ``VoiceSession`` generator
(``ivr_flows.voice.session``): each AGI command is written as one line and the next reply
resumes the generator directly (AGI is strictly one command at a time; no Deferred per
command, since every call makes several and the reactor's time is the server's limit);
blocking work (prompt synthesis, actions, texting a link) runs with ``deferToThreadPool`` on
the pool the factory was given. No global reactor: the factory takes it.

Only Asterisk may connect, and only so many at once: ``buildProtocol`` closes a connection
from an address outside ``allowed_hosts`` before reading anything, and one over
``max_connections``. The environment is bounded before any flow runs: at most
``env_max_lines`` lines of at most ``env_max_line_bytes`` each, ended by the blank line within
``env_timeout_s``; an environment that breaks a bound is refused (closed, logged, no flow).

An unknown flow clears HOTLINE_DONE and closes the connection so the dialplan fallback runs.
A lost connection answers the pending command with a "closed" reply: the session ends as a
hang-up. Finished sessions are logged and the factory keeps the last ``keep`` outcomes.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.internet.threads import deferToThreadPool
from twisted.protocols.basic import LineOnlyReceiver
from twisted.python.failure import Failure

from ivr_flows.core.model import Flow
from ivr_flows.edges.links import LinkSender
from ivr_flows.voice import agi_codec as agi
from ivr_flows.voice.driver import Driver, Send
from ivr_flows.voice.exits import flow_name, reject
from ivr_flows.voice.prompt_plan import Prompts
from ivr_flows.voice.session import CallOutcome, Clock, Runner, SpeechSource, VoiceSession

log = logging.getLogger(__name__)
# After the flow: (outcome, AGI environment, start time in reactor seconds) -> a driver that
# continues the same call (e.g. the CTI's queue wait), or None to hang up as usual.
AfterFlow = Callable[[CallOutcome, Mapping[str, str], float], Driver[Any] | None]
Resume = Callable[[agi.Reply], None]

ENV_TIMEOUT_S = 5.0  # Asterisk sends the environment at once; a slow peer is not Asterisk
ENV_MAX_LINES = 100  # Asterisk sends about 25, plus one per AGI() argument
ENV_MAX_LINE_BYTES = 2048  # Asterisk's own values are short (a channel name, a caller ID)
MAX_CONNECTIONS = 500  # calls in a flow or waiting in a queue: each holds one connection
ALLOWED_HOSTS = ("127.0.0.1", "::1")
COMMAND_TIMEOUT_S = 3600.0  # a reply can take as long as a prompt plays; this only reaps dead peers
REFUSAL_LOG_EVERY_S = 10.0  # a flood of refused connections logs one line per reason this often
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FastAgiProtocol(LineOnlyReceiver):
    delimiter = b"\n"
    MAX_LENGTH = 16384  # a reply line; environment lines are held to the factory's bound

    factory: FastAgiFactory

    def __init__(self) -> None:
        self._env = agi.EnvReader()
        self._replies = agi.ReplyReader()
        self._resume: Resume | None = None  # who gets the reply to the command in flight
        self._closed = False
        self._timer: Any = None  # one per connection: the environment's, then each command's
        self._env_lines = 0
        self._counted = False  # in the factory's count of open connections
        self._refused = False
        self.outcome: CallOutcome | None = None

    @property
    def _tx(self) -> Any:  # Twisted's interfaces are zope ones: mypy cannot check them here
        return self.transport

    # -- connection

    def connectionMade(self) -> None:
        self.factory.connections += 1
        self._counted = True
        self.MAX_LENGTH = self.factory.env_max_line_bytes  # until the environment is read
        self._timer = self.factory.reactor.callLater(self.factory.env_timeout_s,
                                                     self._env_timeout)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._closed = True
        if self._counted:
            self._counted = False
            self.factory.connections -= 1
        self._stop_timer()
        resume, self._resume = self._resume, None
        if resume is not None:
            why = reason.getErrorMessage() if reason is not None else "connection lost"
            resume(agi.Reply.closed(why))

    def _env_timeout(self) -> None:
        self._timer = None
        self._refuse("env_timeout", "no complete AGI environment within %g s",
                     self.factory.env_timeout_s)

    def _refuse(self, reason: str, why: str, *args: object) -> None:
        """The environment broke a bound: close without running a flow."""
        self._refused = True
        self._stop_timer()
        self.factory.note_refusal(reason, "fastagi: " + why + " from %s; closed, no flow run",
                                  *args, _host(self._tx.getPeer()))
        self._tx.loseConnection()

    def _command_timeout(self) -> None:
        self._timer = None
        resume, self._resume = self._resume, None
        if resume is None:  # answered meanwhile: nothing to reap
            return
        log.warning("fastagi: no reply within %.0f s; closing", COMMAND_TIMEOUT_S)
        self._tx.abortConnection()
        resume(agi.Reply.closed("timeout"))

    def _stop_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def lineLengthExceeded(self, line: bytes) -> None:
        if self._refused:
            return
        if not self._env.done:
            self._refuse("env_line_too_long", "an AGI environment line of %d+ bytes "
                         "(at most %d)", len(line), self.MAX_LENGTH)
            return
        log.warning("fastagi: line of %d bytes from Asterisk; closing", len(line))
        self._tx.loseConnection()

    # -- lines in

    def lineReceived(self, line: bytes) -> None:
        if self._refused:
            return
        text = line.decode("utf-8", "replace")
        if not self._env.done:
            self._env_line(text)
            return
        reply = self._replies.feed(text)
        if reply is None:
            return
        resume, self._resume = self._resume, None
        if resume is None:
            # Asterisk sends a bare HANGUP line after the -1 that ended the session.
            log.debug("fastagi: unsolicited %s line", reply.kind)
            return
        resume(reply)

    def _env_line(self, text: str) -> None:
        """One line of the environment: the blank line ends it, within the bounds or never."""
        blank = text.strip() == ""
        if not blank and self._env_lines >= self.factory.env_max_lines:
            self._refuse("env_too_long", "more than %d AGI environment lines",
                         self.factory.env_max_lines)
            return
        self._env_lines += 1
        if not self._env.feed(text):
            return
        if not blank:  # the reader's own cap: the environment did not end
            self._refuse("env_too_long", "an AGI environment that does not end")
            return
        self._stop_timer()
        self.MAX_LENGTH = type(self).MAX_LENGTH
        self._start(self._env.env)

    # -- commands out

    def send_line(self, line: str, resume: Resume) -> bool:
        """Write one command; ``resume(reply)`` is called with Asterisk's reply (a ``closed``
        reply if the connection goes first). False, writing nothing, if the connection is
        already gone. No Deferred per command: the reply resumes the call directly."""
        if self._closed:
            return False
        if self._resume is not None:
            raise RuntimeError("AGI allows one command at a time")
        self._resume = resume
        self._write(line.encode("utf-8") + b"\n")
        # A reply can take as long as a prompt plays; the timer only reaps dead peers. One
        # DelayedCall per connection, pushed back per command (cheap: no new heap entry).
        if self._timer is not None and self._timer.active():
            self._timer.reset(COMMAND_TIMEOUT_S)
        else:
            self._timer = self.factory.reactor.callLater(COMMAND_TIMEOUT_S,
                                                         self._command_timeout)
        return True

    def _write(self, data: bytes) -> None:
        """Send one command line straight to the socket when we can.

        AGI is one command at a time and Asterisk answers a command only once it has read the
        whole line, so when we send, nothing of ours is left in Twisted's buffer: sending at
        once keeps the order and spares Twisted's write path (arm an epoll writer, wait for the
        next loop turn, send, disarm; about a tenth of the reactor's time per call). What the
        socket does not take, or a transport without a socket (tests), goes through Twisted."""
        handle = getattr(self._tx, "getHandle", None)
        sock = handle() if handle is not None else None
        sent = 0
        if sock is not None and hasattr(sock, "send"):
            try:
                sent = sock.send(data)
            except OSError:  # would block, reset or closed: Twisted's write copes or closes
                sent = 0
        if sent < len(data):
            self._tx.write(data[sent:])

    # -- the session

    def _start(self, env: Mapping[str, str]) -> None:
        d = self.factory.run(self, env)
        d.addBoth(self._finished)

    def _finished(self, result: object) -> None:
        self._stop_timer()
        if isinstance(result, Failure):
            log.error("fastagi: session failed: %s", result.getTraceback())
        elif isinstance(result, CallOutcome):
            self.outcome = result
        if not self._closed:
            self._tx.loseConnection()


class FastAgiFactory(Factory):
    """Shared state of the FastAGI listener: flows, prompt store, action runner, link sender,
    clock, the reactor and the thread pool (a ``twisted.python.threadpool.ThreadPool``) for
    blocking work; it keeps the last ``keep`` call outcomes.

    Who may connect: ``allowed_hosts`` (addresses or networks, e.g. ``10.1.2.0/24``), at most
    ``max_connections`` at once; ``refused`` counts the connections closed unserved, by
    reason (``not_allowed``, ``over_capacity``, ``env_timeout``, ``env_too_long``,
    ``env_line_too_long``)."""

    protocol = FastAgiProtocol  # type: ignore[assignment]

    def __init__(self, flows: Mapping[str, Flow], prompts: Prompts, runner: Runner,
                 send_link: LinkSender, clock: Clock, reactor: Any, pool: Any,
                 keep: int = 100,
                 on_outcome: Callable[[CallOutcome], None] | None = None,
                 after_flow: AfterFlow | None = None,
                 speech: SpeechSource | None = None,
                 max_connections: int = MAX_CONNECTIONS,
                 env_timeout_s: float = ENV_TIMEOUT_S,
                 allowed_hosts: Iterable[str] = ALLOWED_HOSTS,
                 env_max_lines: int = ENV_MAX_LINES,
                 env_max_line_bytes: int = ENV_MAX_LINE_BYTES) -> None:
        if max_connections < 1 or env_timeout_s <= 0 or env_max_lines < 1 \
                or env_max_line_bytes < 1:
            raise ValueError("fastagi: max_connections, env_timeout_s, env_max_lines and "
                             "env_max_line_bytes must be positive")
        self.flows = flows
        self.prompts = prompts
        self.runner = runner
        self.send_link = send_link
        self.clock = clock
        self.reactor = reactor  # IReactorTime + IReactorThreads (+ IReactorTCP to listen)
        self.pool = pool
        self.outcomes: deque[CallOutcome] = deque(maxlen=keep)
        self.rejected = 0
        self.on_outcome = on_outcome
        self.after_flow = after_flow
        self.speech = speech  # speech menus through AudioSocket (None: keys only)
        self.allowed_hosts = _networks(allowed_hosts)
        self.max_connections = max_connections
        self.env_timeout_s = env_timeout_s
        self.env_max_lines = env_max_lines
        self.env_max_line_bytes = env_max_line_bytes
        self.connections = 0  # open now (FastAgiProtocol counts itself in and out)
        self.refused: Counter[str] = Counter()
        self._refusal_logged: dict[str, float] = {}

    def buildProtocol(self, addr: Any) -> Any:  # an IAddress (zope) -> FastAgiProtocol or None
        """A protocol for Asterisk; None (Twisted closes the socket unread) for any other
        address, or when ``max_connections`` are open already."""
        ip = _peer_ip(addr)
        if ip is None or not any(ip in net for net in self.allowed_hosts):
            self.note_refusal("not_allowed", "fastagi: connection from %s, which is not in "
                              "fastagi.allowed_hosts; closed unread", _host(addr))
            return None
        if self.connections >= self.max_connections:
            self.note_refusal("over_capacity", "fastagi: %d connections open, the "
                              "fastagi.max_connections; closed a new one from %s",
                              self.connections, _host(addr))
            return None
        return super().buildProtocol(addr)

    def note_refusal(self, reason: str, message: str, *args: object) -> None:
        """Count a connection closed unserved; log it, at most once per reason every
        ``REFUSAL_LOG_EVERY_S`` (a flood of them must not flood the log too)."""
        self.refused[reason] += 1
        now = self.reactor.seconds()
        last = self._refusal_logged.get(reason)
        if last is not None and now - last < REFUSAL_LOG_EVERY_S:
            return
        self._refusal_logged[reason] = now
        log.warning(message + " (%d refused so far for this reason)", *args,
                    self.refused[reason])

    def run(self, proto: FastAgiProtocol, env: Mapping[str, str]) -> defer.Deferred[Any]:
        name = flow_name(env)
        flow = self.flows.get(name) if name else None
        if flow is None:
            self.rejected += 1
            log.warning("fastagi: unknown flow %r (script %r); handing the call to the "
                        "dialplan fallback", name, env.get("agi_network_script", "")[:80])
            return self.drive(proto, reject("unknown_flow"))
        session = VoiceSession(flow, self.prompts, self.runner, self.send_link, self.clock, env,
                               speech=self.speech)
        started = self.reactor.seconds()
        d = self.drive(proto, session.run())
        d.addCallback(self._record)
        if self.after_flow is not None:
            d.addCallback(self._continue, proto, env, started)
        return d

    def _continue(self, outcome: CallOutcome, proto: FastAgiProtocol, env: Mapping[str, str],
                  started: float) -> Any:
        """Hand the still-open call to whoever continues it (the CTI, for a queue exit)."""
        assert self.after_flow is not None
        driver = self.after_flow(outcome, env, started)
        if driver is None:
            return outcome
        d = self.drive(proto, driver)
        d.addCallback(lambda _ended: outcome)
        return d

    def _record(self, outcome: CallOutcome) -> CallOutcome:
        self.outcomes.append(outcome)
        if log.isEnabledFor(logging.INFO):  # summary() formats: not per call at WARNING
            log.info("call ended: %s", outcome.summary())
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def drive(self, proto: FastAgiProtocol, gen: Driver[Any]) -> defer.Deferred[Any]:
        """Run ``gen`` on ``proto``: AGI commands go to the connection and their replies resume
        the generator from ``lineReceived``; blocking work goes to the thread pool. The
        Deferred fires with the generator's return value."""
        done: defer.Deferred[Any] = defer.Deferred()

        def on_reply(reply: agi.Reply) -> None:
            advance(reply, None)

        def advance(value: Any, error: BaseException | None) -> None:
            while True:
                try:
                    request = gen.throw(error) if error is not None else gen.send(value)
                except StopIteration as stop:
                    done.callback(stop.value)
                    return
                except Exception:  # noqa: BLE001 - a bug in a driver: that session fails
                    done.errback(Failure())
                    return
                value, error = None, None
                if isinstance(request, Send):
                    if proto.send_line(request.line, on_reply):
                        return  # the reply resumes us
                    value = agi.Reply.closed()
                    continue
                if request.start is not None:  # work that runs on the reactor: no thread hop
                    try:
                        work = request.start()
                    except Exception as exc:  # noqa: BLE001 - thrown into the driver
                        error = exc
                        continue
                elif request.fn is not None:
                    work = deferToThreadPool(self.reactor, self.pool, request.fn)
                else:
                    error = RuntimeError(f"work {request.what!r} has nothing to run")
                    continue
                work.addCallbacks(lambda result: advance(result, None),
                                  lambda failure: advance(None, failure.value))
                return

        advance(None, None)
        return done


def _networks(hosts: Iterable[str]) -> tuple[IpNetwork, ...]:
    nets: list[IpNetwork] = []
    for host in hosts:
        try:
            nets.append(ipaddress.ip_network(host.strip(), strict=False))
        except ValueError:
            raise ValueError(f"fastagi.allowed_hosts: {host!r} is not an IP address or "
                             "network (e.g. 127.0.0.1, ::1, 10.1.2.0/24)") from None
    if not nets:
        raise ValueError("fastagi.allowed_hosts is empty: no Asterisk could connect")
    return tuple(nets)


def _peer_ip(addr: object) -> IpAddress | None:
    """The IP address of a peer (an IPv4-mapped IPv6 address as IPv4), None if it has none."""
    host = getattr(addr, "host", None)
    if not isinstance(host, str):
        return None
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 scope (fe80::1%eth0)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _host(addr: object) -> str:
    return str(getattr(addr, "host", addr))[:64]


def listen_fastagi(reactor: Any, factory: FastAgiFactory, host: str = "127.0.0.1",
                   port: int = 4573, backlog: int = 1024) -> IListeningPort:
    """Listen for Asterisk's FastAGI connections (a large backlog: calls arrive in bursts)."""
    listening: IListeningPort = reactor.listenTCP(port, factory, backlog=backlog, interface=host)
    return listening
