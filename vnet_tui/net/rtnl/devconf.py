"""A link's own sysctls as its RTM_NEWLINK carries them (IFLA_AF_SPEC), not as /proc/sys shows them.

A change verifies four per-interface sysctls of each end it made:
``ipv4/conf/IF/proxy_arp``, ``ipv6/conf/IF/proxy_ndp``, ``disable_ipv6``
and ``addr_gen_mode``.  Read from /proc/sys, that is entering the end's
namespace and opening four files (~1 ms an end on a host of 1,000
links).  The link message the same read already asked for holds the same
values: IPv4's devconf array, IPv6's devconf array and its address
generation mode, the numbers the sysctl files print.

A family the link has no configuration for (no IPv4 or IPv6 device, e.g.
an MTU under 1280 for IPv6) has no entry here and no directory under
/proc/sys: both read None.  tests/live/test_devconf.py compares the two
on real links in several states.
"""

from __future__ import annotations

import socket
from typing import NamedTuple, Optional

from .attr import I32, attrs
from .numbers import (DEVCONF_DISABLE_IPV6, DEVCONF_PROXY_NDP, IFLA_AF_SPEC, IFLA_INET6_ADDR_GEN_MODE,
                      IFLA_INET6_CONF, IFLA_INET_CONF, IPV4_DEVCONF_PROXY_ARP)


class LinkConf(NamedTuple):
    """The four sysctls as their files print them (None: the file would not exist)."""

    proxy_arp: Optional[str] = None
    proxy_ndp: Optional[str] = None
    ipv6_disabled: Optional[str] = None
    addr_gen_mode: Optional[str] = None


def _entry(buf: bytes, a: int, b: int, index: int) -> Optional[str]:
    """The ``index``-th 32-bit value of a devconf array in ``buf[a:b]``, as its sysctl prints it."""
    off = a + 4 * index
    return str(I32.unpack_from(buf, off)[0]) if off + 4 <= b else None


def link_conf(buf: bytes, off: int, end: int) -> LinkConf:
    """The sysctls in the IFLA_AF_SPEC of the link attributes ``buf[off:end]`` (after the ifinfomsg)."""
    arp = ndp = disabled = gen = None
    for t, v, b in attrs(buf, off, end):
        if t != IFLA_AF_SPEC:
            continue
        for family, fa, fb in attrs(buf, v, b):
            if family == socket.AF_INET:
                for t2, a2, b2 in attrs(buf, fa, fb):
                    if t2 == IFLA_INET_CONF:
                        arp = _entry(buf, a2, b2, IPV4_DEVCONF_PROXY_ARP - 1)
            elif family == socket.AF_INET6:
                for t2, a2, b2 in attrs(buf, fa, fb):
                    if t2 == IFLA_INET6_CONF:
                        ndp = _entry(buf, a2, b2, DEVCONF_PROXY_NDP)
                        disabled = _entry(buf, a2, b2, DEVCONF_DISABLE_IPV6)
                    elif t2 == IFLA_INET6_ADDR_GEN_MODE and b2 > a2:
                        gen = str(buf[a2])
        break
    return LinkConf(arp, ndp, disabled, gen)
