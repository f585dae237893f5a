"""Traffic control: the tcmsg layout, what a qdisc/class/filter message says, and the read requests.

What the policy reader (``policy/tcread.py``) reads of tc: a message's
header (ifindex, handle, parent, info), its TCA_KIND, its TCA_OPTIONS as
raw nested attributes (tbf's parameters and rate64, htb's parameters and
rate64/ceil64, u32's selector), its TCA_STATS2 counters, and a filter's
actions (kind, counters, mirred's direction and target).  ``tc_head`` is
the quick look (kind, handle) for a qdisc with nothing to read (noqueue
on 5,000 ports): it stops at TCA_KIND.  ``tbf_qdisc`` is the one tc
change vnet-tui sends (``policy/rate.py``: rate-in).  tests/live/test_rtnl_tc.py
checks ``parse_tc`` and ``parse_actions`` against pyroute2's ``tcmsg`` on
real tbf/htb/ingress dumps; tests/unit/test_rtnl_tc.py the requests
and layouts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

from .attr import U32, U64, attr, attrs, cstr, str_attr, u32_attr, u64_attr
from .message import message
from .numbers import NLM_F_ACK, NLM_F_DUMP, NLM_F_ECHO, NLM_F_REQUEST

# message types (linux/rtnetlink.h)
RTM_NEWQDISC, RTM_DELQDISC, RTM_GETQDISC = 36, 37, 38
RTM_NEWTCLASS, RTM_GETTCLASS = 40, 42
RTM_NEWTFILTER, RTM_GETTFILTER = 44, 46
# parents (linux/pkt_sched.h)
TC_H_ROOT, TC_H_INGRESS = 0xFFFFFFFF, 0xFFFFFFF1
TC_H_MAJ_INGRESS = 0xFFFF0000  # the ingress qdisc's filters hang here
# struct tcmsg: family, (pad ×3), ifindex, handle, parent, info (a filter's: priority << 16 | protocol)
TCMSG = struct.Struct("=BxxxiIII")
# tc attributes (linux/rtnetlink.h TCA_*)
TCA_KIND, TCA_OPTIONS, TCA_STATS2 = 1, 2, 7
# TCA_STATS2's nested (linux/gen_stats.h)
TCA_STATS_BASIC, TCA_STATS_QUEUE = 1, 3
GNET_BASIC = struct.Struct("=QI")  # bytes, packets
GNET_QUEUE = struct.Struct("=IIIII")  # qlen, backlog, drops, requeues, overlimits
# tbf's and htb's options (linux/pkt_sched.h)
TCA_TBF_PARMS, TCA_TBF_RATE64, TCA_TBF_BURST = 1, 4, 6
TCA_HTB_PARMS, TCA_HTB_RATE64, TCA_HTB_CEIL64 = 1, 6, 7
# struct tc_ratespec: cell_log, linklayer, overhead, cell_align, mpu, rate (bytes/s, 32 bits)
RATESPEC = struct.Struct("=BBHhHI")
TC_LINKLAYER_ETHERNET = 1
# struct tc_htb_opt: rate (tc_ratespec), ceil (tc_ratespec), buffer, cbuffer, quantum, level, prio
HTB_OPT = struct.Struct("=BBHhHIBBHhHIIIIII")
# a filter's options: the selector (u32) and its list of actions, per classifier (linux/pkt_cls.h)
TCA_U32_SEL = 5
ACTIONS_ATTR = {"u32": 7, "bpf": 1, "matchall": 2, "flower": 3}  # TCA_U32_ACT, TCA_BPF_ACT, …
# one action (linux/rtnetlink.h TCA_ACT_*), mirred's parameters (linux/tc_act/tc_mirred.h)
TCA_ACT_KIND, TCA_ACT_OPTIONS, TCA_ACT_STATS = 1, 2, 4
TCA_MIRRED_PARMS = 2
MIRRED_PARMS = struct.Struct("=IIiiiiI")  # tc_gen (index, capab, action, refcnt, bindcnt), eaction, ifindex


def tcmsg(index: int = 0, handle: int = 0, parent: int = 0, info: int = 0) -> bytes:
    """A tcmsg for AF_UNSPEC."""
    return TCMSG.pack(0, index, handle, parent, info)


def dump_qdiscs_request(seq: int) -> bytes:
    """RTM_GETQDISC dump: every qdisc of the namespace (the built-in noop ones left out)."""
    return message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, seq, tcmsg())


def get_qdisc_request(seq: int, index: int, parent: int) -> bytes:
    """RTM_GETQDISC for the qdisc at ``parent`` of one link: answered only to NLM_F_ECHO (qdisc_get_notify);
    acked, because the answer may be empty (an ingress queue with no qdisc)."""
    return message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_ACK | NLM_F_ECHO, seq, tcmsg(index, 0, parent))


def dump_classes_request(seq: int, index: int) -> bytes:
    """RTM_GETTCLASS dump of one link's classes."""
    return message(RTM_GETTCLASS, NLM_F_REQUEST | NLM_F_DUMP, seq, tcmsg(index))


def dump_filters_request(seq: int, index: int, parent: int) -> bytes:
    """RTM_GETTFILTER dump of one link's filters at ``parent``."""
    return message(RTM_GETTFILTER, NLM_F_REQUEST | NLM_F_DUMP, seq, tcmsg(index, 0, parent))


def tbf_qdisc(index: int, handle: int, rate: int, ticks: int, limit: int, burst: Optional[int] = None) -> bytes:
    """The body of a RTM_NEWQDISC making a root tbf: ``rate`` in bytes/s (TCA_TBF_RATE64 above 32 bits),
    ``ticks`` the buffer in tc ticks, ``limit`` in bytes, ``burst`` in bytes handed over as TCA_TBF_BURST
    (the kernel converts it to time once; None: the ticks alone).  Link layer Ethernet: no rate table."""
    qopt = (RATESPEC.pack(0, TC_LINKLAYER_ETHERNET, 0, -1, 0, min(rate, 0xFFFFFFFF)) + bytes(RATESPEC.size)
            + struct.pack("=III", limit, ticks, 0))  # rate, peakrate (none), limit, buffer, mtu
    opts = attr(TCA_TBF_PARMS, qopt)
    if burst is not None:
        opts += u32_attr(TCA_TBF_BURST, burst)
    if rate > 0xFFFFFFFF:
        opts += u64_attr(TCA_TBF_RATE64, rate)
    return tcmsg(index, handle, TC_H_ROOT) + str_attr(TCA_KIND, "tbf") + attr(TCA_OPTIONS, opts)


@dataclass
class TcStats:
    """TCA_STATS2's counters (0 where the message says nothing)."""

    bytes: int = 0
    packets: int = 0
    drops: int = 0
    overlimits: int = 0
    backlog: int = 0


@dataclass
class TcMsg:
    """What a RTM_NEWQDISC/RTM_NEWTCLASS/RTM_NEWTFILTER says."""

    ifindex: int
    handle: int
    parent: int
    info: int
    kind: Optional[str] = None
    options: Optional[dict[int, bytes]] = None  # TCA_OPTIONS' attributes, raw (None: no TCA_OPTIONS)
    stats: TcStats = field(default_factory=TcStats)


@dataclass
class TcAction:
    """One action of a filter: its kind, counters, and for mirred its ``eaction`` and target ifindex."""

    kind: Optional[str]
    packets: Optional[int] = None  # None: the action carries no TCA_ACT_STATS
    bytes: Optional[int] = None
    eaction: Optional[int] = None  # mirred only (TCA_EGRESS_REDIR = 1, …)
    ifindex: Optional[int] = None


def nested(buf: bytes, a: int, b: int) -> dict[int, bytes]:
    """The attributes in ``buf[a:b]``: type → payload (the last one wins)."""
    return {t: bytes(buf[x:y]) for t, x, y in attrs(buf, a, b)}


def _kind(raw: bytes) -> str:
    return cstr(raw, 0, len(raw))


def tc_head(buf: bytes, off: int, end: int) -> tuple[Optional[str], int]:
    """(TCA_KIND, handle) of a tc message body at ``off``, walking no further than TCA_KIND."""
    handle = TCMSG.unpack_from(buf, off)[2]
    for t, a, b in attrs(buf, off + TCMSG.size, end):
        if t == TCA_KIND:
            return cstr(buf, a, b), handle
    return None, handle


def _stats(raw: bytes) -> TcStats:
    st, got = TcStats(), nested(raw, 0, len(raw))
    basic, queue = got.get(TCA_STATS_BASIC), got.get(TCA_STATS_QUEUE)
    if basic is not None and len(basic) >= GNET_BASIC.size:
        st.bytes, st.packets = GNET_BASIC.unpack_from(basic, 0)
    if queue is not None and len(queue) >= GNET_QUEUE.size:
        _qlen, st.backlog, st.drops, _requeues, st.overlimits = GNET_QUEUE.unpack_from(queue, 0)
    return st


def parse_tc(buf: bytes, off: int, end: int) -> TcMsg:
    """The tc message body at ``buf[off:end]``."""
    _family, index, handle, parent, info = TCMSG.unpack_from(buf, off)
    msg = TcMsg(index, handle, parent, info)
    for t, a, b in attrs(buf, off + TCMSG.size, end):
        if t == TCA_KIND:
            msg.kind = cstr(buf, a, b)
        elif t == TCA_OPTIONS:
            msg.options = nested(buf, a, b)
        elif t == TCA_STATS2:
            msg.stats = _stats(bytes(buf[a:b]))
    return msg


def tbf_parms(options: dict[int, bytes]) -> Optional[tuple[int, int, int]]:
    """(rate in bytes/s — RATE64 where given —, limit in bytes, buffer in ticks) of tbf's options (None: none)."""
    p = options.get(TCA_TBF_PARMS, b"")
    if len(p) < 36:  # struct tc_tbf_qopt: rate, peakrate (tc_ratespec), limit, buffer, mtu
        return None
    rate = U32.unpack_from(p, 8)[0]
    limit, ticks = struct.unpack_from("=II", p, 24)
    r64 = options.get(TCA_TBF_RATE64, b"")
    return (U64.unpack_from(r64, 0)[0] if len(r64) >= 8 else rate), limit, ticks


def htb_parms(options: dict[int, bytes]) -> Optional[tuple[int, int, int]]:
    """(rate, ceil in bytes/s — RATE64/CEIL64 where not 0 —, buffer in ticks) of an htb class (None: none)."""
    p = options.get(TCA_HTB_PARMS, b"")
    if len(p) < HTB_OPT.size:
        return None
    f = HTB_OPT.unpack_from(p, 0)
    rate, ceil, buffer = f[5], f[11], f[12]
    r64, c64 = options.get(TCA_HTB_RATE64, b""), options.get(TCA_HTB_CEIL64, b"")
    rate = (U64.unpack_from(r64, 0)[0] if len(r64) >= 8 else 0) or rate
    ceil = (U64.unpack_from(c64, 0)[0] if len(c64) >= 8 else 0) or ceil
    return rate, ceil, buffer


def parse_actions(kind: Optional[str], options: Optional[dict[int, bytes]]) -> list[TcAction]:
    """The actions of a filter of classifier ``kind`` (u32, bpf, matchall, flower), in their order."""
    t = ACTIONS_ATTR.get(kind or "")
    raw = options.get(t) if options is not None and t is not None else None
    if raw is None:
        return []
    out = []
    for _prio, a, b in attrs(raw, 0, len(raw)):
        act = nested(raw, a, b)
        item = TcAction(_kind(act[TCA_ACT_KIND]) if TCA_ACT_KIND in act else None)
        st = act.get(TCA_ACT_STATS)
        if st is not None:
            s = _stats(st)
            item.packets, item.bytes = s.packets, s.bytes
        ao = act.get(TCA_ACT_OPTIONS)
        if item.kind == "mirred" and ao is not None:
            p = nested(ao, 0, len(ao)).get(TCA_MIRRED_PARMS, b"")
            if len(p) >= MIRRED_PARMS.size:
                f = MIRRED_PARMS.unpack_from(p, 0)
                item.eaction, item.ifindex = f[5], f[6]
            else:
                item.eaction, item.ifindex = 0, None
        out.append(item)
    return out


