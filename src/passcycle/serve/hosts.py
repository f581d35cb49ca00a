"""Trusted hosts: the `Host` names the dashboard answers, against DNS rebinding.

A page on an attacker's site can make a browser resolve the attacker's name to 127.0.0.1
and then read the dashboard as if it were the attacker's own origin; the one thing it
cannot forge is the `Host` header, which still names the attacker's site. So the dashboard
answers only the names it is served under, and Starlette's TrustedHostMiddleware answers
every other name 400. It compares names, not ports, as the rebinding defence needs.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from passcycle.errors import UsageError

ENV_VAR = "PASSCYCLE_ALLOW_HOSTS"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
ANY = "*"  # turns the check off, for a dashboard behind a proxy that checks names itself
HINT = (
    "write a host name or address without scheme or port, e.g. --allow-host dash.example.com, "
    "*.example.com for its subdomains, or * for any name"
)
_NAME = re.compile(r"(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def trusted_hosts(bind: str, allowed: Iterable[str] = ()) -> tuple[str, ...]:
    """The names the dashboard bound to `bind` answers, then the `allowed` extra names.

    Loopback: every loopback name a browser on this machine may use. Every interface
    (0.0.0.0, ::): those and this machine's name. Any other address or name: itself.
    """
    address = _address(bind)
    if bind.lower() == "localhost" or (address is not None and address.is_loopback):
        names = [*LOOPBACK_NAMES, _host_name(bind.lower())]
    elif not bind or (address is not None and address.is_unspecified):
        names = [*LOOPBACK_NAMES, socket.gethostname().lower()]
    else:
        names = [_host_name(bind.lower())]
    for raw in allowed:
        names += [normalize(name) for name in re.split(r"[,\s]+", raw) if name]
    return tuple(dict.fromkeys(names))


def normalize(raw: str) -> str:
    """One `--allow-host` name as the middleware compares it, or a UsageError saying why not."""
    name = raw.strip().lower().rstrip(".")
    if name == ANY:
        return name
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if _address(name) is not None:
        return _host_name(name)
    if _NAME.fullmatch(name) is None:
        raise UsageError(f"--allow-host (or {ENV_VAR}) {raw!r}: not a host name", hint=HINT)
    return name


def _host_name(host: str) -> str:
    # In a Host header an IPv6 address is bracketed: [::1]:8765.
    address = _address(host)
    return f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else host


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
