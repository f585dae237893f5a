"""Link changes as ``ip link`` makes them: create a veth pair or a bridge, set, delete.

One RTM_NEWLINK creates a veth with its peer already in another
namespace (IFLA_NET_NS_FD inside VETH_INFO_PEER), MACs and MTUs in the
same message: the change layer (``net/change.py``) and the lab
(``lab/nl.py``) both build their pairs with ``new_veth``.  Changes go as
RTM_NEWLINK without NLM_F_CREATE, which is what ``ip link set`` sends.
tests/unit/test_rtnl_roundtrip.py decodes each with pyroute2.
"""

from __future__ import annotations

from typing import Optional

from .attr import attr, mac_bytes, str_attr, u32_attr, u64_attr
from .links import ifinfo, ifinfo_state
from .message import message
from .numbers import (IFF_UP, IFLA_ADDRESS, IFLA_BR_MCAST_HASH_MAX, IFLA_BR_MCAST_QUERIER,
                      IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, IFLA_BR_MCAST_STARTUP_QUERY_CNT,
                      IFLA_BR_MCAST_STARTUP_QUERY_INTVL, IFLA_IFALIAS, IFLA_IFNAME, IFLA_INFO_DATA,
                      IFLA_INFO_KIND, IFLA_LINKINFO, IFLA_MASTER, IFLA_MTU, IFLA_NET_NS_FD, IFLA_NUM_RX_QUEUES,
                      IFLA_NUM_TX_QUEUES, NLM_F_ACK, NLM_F_CREATE, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REQUEST,
                      RTM_DELLINK, RTM_NEWLINK, VETH_INFO_PEER)

_CHANGE = NLM_F_REQUEST | NLM_F_ACK
_CREATE = _CHANGE | NLM_F_CREATE | NLM_F_EXCL

# the set_link keywords (what ChangeNs.link_set sends raw; anything else goes through pyroute2)
LINK_SET_KEYS = frozenset({"ifname", "address", "mtu", "master", "ifalias", "state"})


def _link_attrs(ifname: Optional[str] = None, address: Optional[str] = None, mtu: Optional[int] = None,
                master: Optional[int] = None) -> bytes:
    out = b""
    if ifname is not None:
        out += str_attr(IFLA_IFNAME, ifname)
    if address:
        out += attr(IFLA_ADDRESS, mac_bytes(address))
    if mtu is not None:
        out += u32_attr(IFLA_MTU, mtu)
    if master is not None:
        out += u32_attr(IFLA_MASTER, master)
    return out


def linkinfo(kind: str, data: bytes = b"") -> bytes:
    """IFLA_LINKINFO: the link's kind and, if any, its kind's own attributes (IFLA_INFO_DATA)."""
    info = attr(IFLA_INFO_KIND, kind.encode())
    if data:
        info += attr(IFLA_INFO_DATA, data)
    return attr(IFLA_LINKINFO, info)


def new_veth(seq: int, ifname: str, mac: str, peer_ifname: str, peer_mac: str, peer_netns_fd: int, *,
             mtu: Optional[int] = None, peer_mtu: Optional[int] = None, master: Optional[int] = None,
             up: bool = False, queues: Optional[int] = None, echo: bool = False) -> bytes:
    """``ip link add IFNAME address MAC [mtu M] [master I] [up]``
    ``type veth peer name P address PMAC [mtu PM] netns FD``.

    The peer cannot be brought up in the same message (the kernel applies its
    flags before the pair is joined: ENOTCONN); set it up from its namespace.
    ``queues``: that many TX and RX queues on each end (else one per CPU, which
    the kernel then cuts down, each cut an RCU grace period under the rtnl
    lock).  ``echo``: the kernel answers with the host end as made, its
    IFLA_LINK the peer's ifindex (``Batch.run`` returns it).
    """
    q = (u32_attr(IFLA_NUM_TX_QUEUES, queues) + u32_attr(IFLA_NUM_RX_QUEUES, queues)) if queues else b""
    peer = ifinfo() + _link_attrs(peer_ifname, peer_mac, peer_mtu) + q + u32_attr(IFLA_NET_NS_FD, peer_netns_fd)
    body = (ifinfo(0, IFF_UP, IFF_UP) if up else ifinfo()) + _link_attrs(ifname, mac, mtu) + q
    if master is not None:
        body += u32_attr(IFLA_MASTER, master)
    body += linkinfo("veth", attr(VETH_INFO_PEER, peer))
    return message(RTM_NEWLINK, _CREATE | (NLM_F_ECHO if echo else 0), seq, body)


def set_link(seq: int, index: int, *, ifname: Optional[str] = None, address: Optional[str] = None,
             mtu: Optional[int] = None, master: Optional[int] = None, ifalias: Optional[str] = None,
             state: Optional[str] = None, ack: bool = True) -> bytes:
    """``ip link set dev INDEX …``: master 0 is nomaster; ifalias "" clears the alias; state up|down.

    ``index`` 0: the link named ``ifname`` (then not a rename).  ``ack=False``:
    the kernel answers only a refusal (a batch whose last request is acked).
    """
    body = ifinfo_state(index, state) + _link_attrs(ifname, address, mtu, master)
    if ifalias is not None:
        # no NUL: an empty payload removes the alias (dev_set_alias with length 0), as `ip link set alias ""`
        body += attr(IFLA_IFALIAS, ifalias.encode())
    return message(RTM_NEWLINK, _CHANGE if ack else NLM_F_REQUEST, seq, body)


def del_link(seq: int, index: int = 0, ifname: Optional[str] = None) -> bytes:
    """``ip link del``: link ``index``, or (index 0) the link named ``ifname``."""
    body = ifinfo(index) + (str_attr(IFLA_IFNAME, ifname) if not index and ifname is not None else b"")
    return message(RTM_DELLINK, _CHANGE, seq, body)


def new_bridge(seq: int, name: str, mac: str, mcast_groups: int = 4096) -> bytes:
    """Create bridge ``name``, up, with a fixed MAC (ports then never change it).

    Multicast snooping is sized for ``mcast_groups`` groups (past that the
    kernel turns snooping off) and its querier timings are short (1 s) so
    ``querier_on`` takes effect within seconds: see there.
    """
    data = (u32_attr(IFLA_BR_MCAST_HASH_MAX, mcast_groups)
            + u32_attr(IFLA_BR_MCAST_STARTUP_QUERY_CNT, 5)
            + u64_attr(IFLA_BR_MCAST_QUERY_RESPONSE_INTVL, 100)  # centiseconds
            + u64_attr(IFLA_BR_MCAST_STARTUP_QUERY_INTVL, 100))
    body = ifinfo(0, IFF_UP, IFF_UP) + _link_attrs(name, mac) + linkinfo("bridge", data)
    return message(RTM_NEWLINK, _CREATE, seq, body)


def querier_on(seq: int, name: str) -> bytes:
    """Make bridge ``name`` the multicast querier (and up).

    With a querier, snooping delivers group traffic (MLD reports, neighbour
    solicitations) only to the ports that joined the group; without one the
    bridge floods it, and each container's MLD reports reach every other
    container: N² deliveries for a lab of N.  A separate message, because the
    kernel applies the querier before the intervals within one message.
    """
    querier = attr(IFLA_BR_MCAST_QUERIER, b"\x01")
    body = ifinfo(0, IFF_UP, IFF_UP) + _link_attrs(name) + linkinfo("bridge", querier)
    return message(RTM_NEWLINK, _CHANGE, seq, body)
