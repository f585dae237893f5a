"""The rtnetlink codec: every netlink message vnet-tui writes or reads, in one family of modules.

=============  =====================================================================
``numbers``    the kernel's numbers (message types, flags, attribute types)
``message``    the header (nlmsghdr): encode one message, walk a read buffer
``attr``       the attribute (rtattr): encode, walk, payloads (u32, strings, MACs)
``links``      ifinfomsg, ``LinkMsg`` and ``parse_link``, link dump/get requests
``devconf``    a link's proxy_arp, proxy_ndp, disable_ipv6, addr_gen_mode from its IFLA_AF_SPEC
``linkchange`` veth-with-peer, bridge, set and delete requests (``ip link`` as sent)
``addrs``      ifaddrmsg, ``AddrMsg``, address dumps, add and delete
``stats``      RTM_GETSTATS requests and replies (the sweep's one-unpack layout)
``routes``     rtmsg, route dumps by output interface, ``RouteMsg``
``nsid``       RTM_GETNSID
``tc``         tcmsg, ``TcMsg`` and ``parse_tc`` (qdiscs, classes, filters, actions), tc dumps, a tbf
``exchange``   a request's replies on a socket, an ACK
``batch``      many requests per ``sendall``, every ACK checked
=============  =====================================================================

Its users: the sockets and dumps (``net/session.py``), the counter sweep
(``net/sweep.py``), the change layer (``net/change.py``), the raw reads
of one end (``net/rawread.py``), the lab (``lab/nl.py``) and the policy's
tc reads and rate-in (``policy/nlread.py``, ``tcread.py``, ``rate.py``).
net/ packs and unpacks netlink nowhere else, and tc nowhere at all outside
``tc`` (the policy reader still parses a link's few IFLA_* facts itself,
``nlread.link_facts``).  The decoders are
checked against pyroute2's on real dumps (tests/live/test_rtnl_codec.py,
test_rtnl_tc.py), the encoders by pyroute2's decoding
(tests/unit/test_rtnl_roundtrip.py, test_rtnl_tc.py).
The names below are the family's public face; import a module for the rest.
"""

from .addrs import AddrMsg, dump_addrs_request, parse_addr
from .links import LinkMsg, dump_counted_links_request, dump_links_request, parse_link
from .message import NLMSGHDR, error_code, messages
from .nsid import get_nsid_request, parse_nsid
from .numbers import *  # noqa: F403 - the kernel's numbers, by their kernel names
from .stats import STATS_ORDER, StatsMsg, dump_stats_request, parse_stats

__all__ = [
    "AddrMsg", "LinkMsg", "NLMSGHDR", "STATS_ORDER", "StatsMsg", "dump_addrs_request",
    "dump_counted_links_request", "dump_links_request", "dump_stats_request", "error_code", "get_nsid_request", "messages",
    "parse_addr", "parse_link", "parse_nsid", "parse_stats",
]
