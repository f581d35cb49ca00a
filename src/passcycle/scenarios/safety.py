"""Where load may go: the plan's service on loopback, and the hosts the plan allows.

Checked before any traffic. `allow_hosts` entries are host names ("staging.example.com"),
wildcards ("*.staging.example.com"), IP addresses or networks ("10.1.0.0/16").
Names are not resolved: a name that points at another machine tomorrow must be listed.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import urllib.parse
from collections.abc import Iterable, Sequence

from passcycle.errors import PlanError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_LOOPBACK_NETS = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def is_loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in net for net in _LOOPBACK_NETS)


def check_allow_hosts(allow_hosts: Iterable[str]) -> None:
    """Entries that cannot match anything are plan errors, not silent no-ops."""
    for entry in allow_hosts:
        text = entry.strip()
        if not text or "://" in text or ("/" in text and not _is_network(text)):
            raise PlanError(
                f"service.allow_hosts: cannot read {entry!r}",
                hint='write host names, "*.example.com", IP addresses or networks like'
                ' "10.0.0.0/8" (no scheme, no path)',
            )


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def host_allowed(host: str, allow_hosts: Sequence[str] = ()) -> bool:
    """Loopback always; otherwise only a host the plan lists."""
    host = host.strip("[]").lower()
    if not host:
        return False
    if is_loopback(host):
        return True
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in allow_hosts:
        entry = entry.strip().lower()
        if address is not None and _is_network(entry):
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        elif fnmatch.fnmatchcase(host, entry):
            return True
    return False


def check_target(url: str, allow_hosts: Sequence[str], what: str) -> str:
    """The host of `url` if load may go there; else a PlanError naming `what` (exit 2)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PlanError(f"{what}: {url!r} is not an http(s) URL with a host")
    host = parts.hostname
    if not host_allowed(host, allow_hosts):
        raise PlanError(
            f"{what}: refusing to send load to {host!r}: only loopback and the hosts in"
            " service.allow_hosts may receive load",
            hint=f'if {host} is yours to load, add it: [service] allow_hosts = ["{host}"]',
        )
    return host
