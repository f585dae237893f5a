"""What the pair test puts on the wire, and how it recognises its own frames.

Marked frames (container adapters)::

    dst 01:80:c2:00:00:0e | src <sending end's MAC> | type 0x88b5 |
    "VNPT" | run id (8 bytes) | sequence (u32) | sent at (u64 ns, CLOCK_REALTIME) | zero padding

- EtherType 0x88b5 is IEEE 802's "local experimental" type: no protocol
  on any host handles it, so the receiving end drops it after counting.
- The destination is the 802.1Q *nearest bridge* group address.  No
  bridge forwards it: a Linux bridge passes it to the port's own stack
  (``br_handle_frame``: link-local, not in ``group_fwd_mask`` by default)
  instead of flooding it, and Open vSwitch drops reserved multicast.  So a
  frame that enters one end of a pair is seen at the other end and goes
  nowhere else, even when that end is a bridge port.  ``pair.ends``
  refuses a bridge whose ``group_fwd_mask`` would forward it.
- The run id keeps two tests on one pair apart.

ARP probes (VM adapters; the guest answers)::

    dst <guest MAC> | src <tap's MAC> | type 0x0806 | request,
    sender 01:80:c2:00:00:0e / 0.0.0.0, target ?? / <guest's IPv4>

A probe (sender IP 0.0.0.0, RFC 5227) gets an answer from Linux without
touching its neighbour table.  The answer goes to the sender hardware
address: the nearest-bridge group again, so on the host it stays on the
tap (never reaching the bridge, its other ports or the host's own stack).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Optional

ETHERTYPE = 0x88B5  # local experimental EtherType 1
ETH_P_ARP = 0x0806
NEAREST_BRIDGE = bytes.fromhex("0180c200000e")  # 802.1Q: never forwarded by a bridge
NEAREST_BRIDGE_BIT = 1 << 0x0E  # its bit in a Linux bridge's group_fwd_mask
MAGIC = b"VNPT"
RUN_ID_LEN = 8
ETH_ZLEN = 60  # the shortest Ethernet frame without FCS

_MARKED = struct.Struct("!6s6sH4s8sIQ")
_ARP = struct.Struct("!6s6sHHHBBH6s4s6s4s")


def mac_bytes(mac: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (or with ``-``) as 6 bytes."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return raw


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def new_run_id() -> bytes:
    return os.urandom(RUN_ID_LEN)


# -- marked frames ------------------------------------------------------------------------


def marked_frame(src: bytes, run_id: bytes, seq: int, sent_ns: int) -> bytes:
    """One marked frame, padded to the Ethernet minimum."""
    frame = _MARKED.pack(NEAREST_BRIDGE, src, ETHERTYPE, MAGIC, run_id, seq, sent_ns)
    return frame + bytes(ETH_ZLEN - len(frame))


MARKED_LEN = ETH_ZLEN


@dataclass(frozen=True)
class Marked:
    """A marked frame as captured."""

    seq: int
    sent_ns: int
    src: bytes


def parse_marked(data: bytes, run_id: bytes) -> Optional[Marked]:
    """The sequence and send time of one of our frames of run ``run_id`` (None: not ours)."""
    if len(data) < _MARKED.size:
        return None
    dst, src, etype, magic, rid, seq, sent = _MARKED.unpack_from(data)
    if etype != ETHERTYPE or magic != MAGIC or rid != run_id or dst != NEAREST_BRIDGE:
        return None
    return Marked(seq, sent, src)


# -- ARP probes ------------------------------------------------------------------------------


def arp_probe(src: bytes, target_ip: bytes, dst: Optional[bytes] = None) -> bytes:
    """An ARP probe for ``target_ip`` (4 bytes) sent from ``src``; answered to the nearest-bridge group."""
    frame = _ARP.pack(dst or b"\xff" * 6, src, ETH_P_ARP, 1, 0x0800, 6, 4, 1,
                      NEAREST_BRIDGE, bytes(4), bytes(6), target_ip)
    return frame + bytes(ETH_ZLEN - len(frame))


def is_probe_answer(data: bytes, target_ip: bytes) -> bool:
    """Is ``data`` an ARP reply from ``target_ip`` to one of our probes?"""
    if len(data) < _ARP.size:
        return False
    dst, _src, etype, _htype, ptype, _hl, _pl, op, _sha, spa, tha, _tpa = _ARP.unpack_from(data)
    return etype == ETH_P_ARP and ptype == 0x0800 and op == 2 and spa == target_ip and (
        tha == NEAREST_BRIDGE or dst == NEAREST_BRIDGE)


# -- socket filters (classic BPF), so the kernel copies only candidates ------------------------

Insn = tuple[int, int, int, int]
_LDH, _LDW, _JEQ, _RET = 0x28, 0x20, 0x15, 0x06


def marked_filter() -> list[Insn]:
    """Accept EtherType 0x88b5 frames that start with our magic."""
    return [
        (_LDH, 0, 0, 12),
        (_JEQ, 0, 3, ETHERTYPE),
        (_LDW, 0, 0, 14),
        (_JEQ, 0, 1, int.from_bytes(MAGIC, "big")),
        (_RET, 0, 0, 0xFFFF),
        (_RET, 0, 0, 0),
    ]


def arp_reply_filter(target_ip: bytes) -> list[Insn]:
    """Accept ARP replies whose sender is ``target_ip``."""
    return [
        (_LDH, 0, 0, 12),
        (_JEQ, 0, 5, ETH_P_ARP),
        (_LDH, 0, 0, 20),
        (_JEQ, 0, 3, 2),
        (_LDW, 0, 0, 28),
        (_JEQ, 0, 1, int.from_bytes(target_ip, "big")),
        (_RET, 0, 0, 0xFFFF),
        (_RET, 0, 0, 0),
    ]


def run_filter(prog: list[Insn], data: bytes) -> bool:
    """Interpret the tiny subset of classic BPF used above (for tests of the filters)."""
    pc = 0
    acc = 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == _LDH:
            if k + 2 > len(data):
                return False
            acc = int.from_bytes(data[k:k + 2], "big")
        elif code == _LDW:
            if k + 4 > len(data):
                return False
            acc = int.from_bytes(data[k:k + 4], "big")
        elif code == _JEQ:
            pc += jt if acc == k else jf
        elif code == _RET:
            return k != 0
        else:
            raise ValueError(f"unknown BPF opcode {code:#x}")
        pc += 1
