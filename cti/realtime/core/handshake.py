"""What the WebSocket handshake carries that the realtime layer reads: Origin and Cookie.
Pure string work, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable

_ORIGIN = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)"
    r"(?::(?P<port>[0-9]{1,5}))?/?"
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
MAX_COOKIES = 64


def normalize_origin(value: str | None) -> str | None:
    """``scheme://host:port`` (lower case, the port always written), or ``None`` for a
    missing, opaque (``null``) or malformed origin. Only http and https are origins a page
    can have."""
    if not value:
        return None
    match = _ORIGIN.fullmatch(value.strip())
    if match is None:
        return None
    scheme = match["scheme"].lower()
    if scheme not in _DEFAULT_PORTS:
        return None
    port = int(match["port"]) if match["port"] else _DEFAULT_PORTS[scheme]
    if not 0 < port < 65536:
        return None
    return f"{scheme}://{match['host'].lower()}:{port}"


def normalize_origins(values: Iterable[str]) -> frozenset[str]:
    """The configured allowed origins, normalized; a malformed one is a configuration error."""
    allowed = set()
    for value in values:
        origin = normalize_origin(value)
        if origin is None:
            raise ValueError(f"not an origin (scheme://host[:port]): {value!r}")
        allowed.add(origin)
    return frozenset(allowed)


def parse_cookies(header: str | None) -> dict[str, str]:
    """The cookies of a ``Cookie`` header (several headers joined by ``,`` are accepted: a
    cookie value never holds one). The first cookie of a name wins; pairs that are not
    ``name=value`` are skipped; double quotes around a value are removed."""
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for pair in re.split(r"[;,]", header):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not _COOKIE_NAME.fullmatch(name) or name in cookies:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies[name] = value
        if len(cookies) >= MAX_COOKIES:
            break
    return cookies
