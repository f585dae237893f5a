"""The rtnetlink codec: every netlink message vnet-tui writes or reads, in one family of modules.

=============  =====================================================================
``numbers``    the kernel's numbers (message types, flags, attribute types)
``message``    the header (nlmsghdr): encode one message, walk a read buffer
``attr``       the attribute (rtattr): encode, walk, payloads (u32, strings, MACs)
``links``      ifinfomsg, ``LinkMsg`` and ``parse_link``, link dump/get requests
``linkchange`` veth-with-peer, bridge, set and delete requests (``ip link`` as sent)
``addrs``      ifaddrmsg, ``AddrMsg``, address dumps, add and delete
``stats``      RTM_GETSTATS requests and replies (the sweep's one-unpack layout)
``routes``     rtmsg, route dumps by output interface, ``RouteMsg``
``nsid``       RTM_GETNSID
``exchange``   a request's replies on a socket, an ACK
``batch``      many requests per ``sendall``, every ACK checked
=============  =====================================================================

Its users: the sockets and dumps (``net/session.py``), the counter sweep
(``net/sweep.py``), the change layer (``net/change.py``), the raw reads
of one end (``net/rawread.py``) and the lab (``lab/nl.py``); net/ packs
and unpacks netlink nowhere else (policy/ still reads tc messages with
its own layouts, ``policy/nlread.py``).  The decoders are
checked against pyroute2's on real dumps (tests/live/test_rtnl_codec.py),
the encoders by pyroute2's decoding (tests/unit/test_rtnl_roundtrip.py).
The names below are the family's public face; import a module for the rest.
"""

from .addrs import AddrMsg, dump_addrs_request, parse_addr
from .links import LinkMsg, dump_links_request, parse_link
from .message import NLMSGHDR, error_code, messages
from .nsid import get_nsid_request, parse_nsid
from .numbers import *  # noqa: F403 - the kernel's numbers, by their kernel names
from .stats import STATS_ORDER, StatsMsg, dump_stats_request, parse_stats

__all__ = [
    "AddrMsg", "LinkMsg", "NLMSGHDR", "STATS_ORDER", "StatsMsg", "dump_addrs_request",
    "dump_links_request", "dump_stats_request", "error_code", "get_nsid_request", "messages",
    "parse_addr", "parse_link", "parse_nsid", "parse_stats",
]
