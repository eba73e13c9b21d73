"""One rule for exposed ports, shared by the image check (``ExposedPorts``) and the
Dockerfile rule (``EXPOSE``): ``PORT[-PORT][/tcp|udp|sctp]`` with ports 1 to 65535;
port 22 over TCP is SSH."""

from __future__ import annotations

from typing import Literal

#: the advice both checks give for a port out of range
PORT_RANGE_ADVICE = "Expose ports between 1 and 65535 (PORT[-PORT][/tcp|udp|sctp])."
#: the advice both checks give for SSH
SSH_ADVICE = "Do not run sshd in a container; use docker exec / kubectl exec for access."
_PROTOCOLS = ("tcp", "udp", "sctp")


def port_problem(spec: str) -> Literal["range", "ssh"] | None:
    """``range``: not a valid port (range) or protocol; ``ssh``: it exposes 22/tcp."""
    number, _, proto = spec.strip().partition("/")
    lo, _, hi = number.partition("-")
    if not lo.isdigit() or not (hi or lo).isdigit() or (proto and proto.lower() not in _PROTOCOLS):
        return "range"
    first, last = int(lo), int(hi or lo)
    if not 1 <= first <= last <= 65535:
        return "range"
    if first <= 22 <= last and (proto or "tcp").lower() == "tcp":
        return "ssh"
    return None
