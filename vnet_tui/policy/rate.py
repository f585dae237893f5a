"""Rate limits, in the directions the guest sees.

``rate_in`` — what the guest *receives* = what the host end transmits:
shaped by a tbf root qdisc on the host end (handle ``5654:``, which marks
it as vnet-tui's), queueing up to ``latency`` before dropping.

``rate_out`` — what the guest *sends* = what the host end receives: a
policer in vnet-tui's nftables table (netdev ingress hook on the host end,
``limit rate over R bytes/second burst B bytes drop``, its drops counted).
It needs neither an ifb device nor tc's police action (which this
project's kernels lack); TCP senders settle just under the rate.  Mind
nftables' byte limit: its bucket holds one second of traffic *plus* the
burst (``nft_limit_init``: tokens = nsecs × (rate + burst) / rate), so
after an idle second the guest may send up to twice the rate for that
second; over longer windows the rate holds (tests/live/test_policy_traffic).

A root qdisc or an ingress shaping someone else set (libvirt's htb, an
ifb redirect) is shown by ``read`` and left alone: changing it is refused
(``rate-in-foreign-qdisc``, ``rate-out-foreign``) rather than overwritten.
"""

from __future__ import annotations

import errno
from typing import Any, Optional, Union

from vnet_tui.core.errors import InvalidInput
from vnet_tui.net.rtnl.tc import RTM_DELQDISC, RTM_NEWQDISC, TC_H_ROOT, tbf_qdisc, tcmsg

from . import chains, nftrules, probe, validate
from .nlread import NLM_F_CREATE, NLM_F_REPLACE
from .port import Port
from .read import OUR_HANDLE, list_ours, read
from .steps import Step

LATENCY = "50ms"
LATENCY_US = 50_000
PSCHED_TICK_NS = 64
Rate = Union[str, int, None]


def tbf_request(index: int, bps: int, burst: int, latency_us: int = LATENCY_US,
                kernel: Optional[dict[str, int]] = None) -> bytes:
    """RTM_NEWQDISC body: root tbf ``5654:`` with the rate (RATE64 above 32 bits) and the burst in bytes
    (the layout is the codec's, ``net/rtnl/tc.tbf_qdisc``).

    TCA_TBF_BURST hands the kernel the burst itself (it converts to time
    once); pyroute2 0.9.7 sends only its own µs-rounded buffer ticks, which
    drift by up to a microsecond of traffic per set and cannot say
    rates above 34 gbit/s.  Link layer Ethernet: no rate table needed.
    """
    rate = bps // 8
    ticks = min(0xFFFFFFFF, burst * 1_000_000_000 // max(rate, 1) // PSCHED_TICK_NS)
    limit = min(0xFFFFFFFF, rate * latency_us // 1_000_000 + burst)
    if kernel is not None:  # putting back what was read: the kernel's own numbers, to the tick
        rate, ticks, limit = kernel["rate_bytes"], kernel["buffer_ticks"], kernel["limit_bytes"]
    return tbf_qdisc(index, OUR_HANDLE << 16, rate, ticks, limit, burst if kernel is None else None)


def _tbf_set(bps: int, burst: int, kernel: Optional[dict[str, int]] = None) -> Any:
    def act(p: Port) -> None:
        p.change(f"tc replace tbf {p.ifname}",
                 lambda: p.raw.change(RTM_NEWQDISC, NLM_F_CREATE | NLM_F_REPLACE,
                                      tbf_request(p.index, bps, burst, kernel=kernel)))
    return act


def _tbf_del(p: Port) -> None:
    def run() -> None:
        try:
            p.raw.change(RTM_DELQDISC, 0, tcmsg(p.index, OUR_HANDLE << 16, TC_H_ROOT))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.EINVAL):  # already gone
                raise

    p.change(f"tc del root {p.ifname}", run)


def _tbf_text(port: Port, value: Optional[tuple[int, int]]) -> str:
    if value is None:
        return port.cmd("tc", "qdisc", "del", "dev", port.ifname, "root")
    return port.cmd("tc", "qdisc", "replace", "dev", port.ifname, "root", "handle", f"{OUR_HANDLE:x}:", "tbf",
                    "rate", f"{value[0]}bit", "burst", str(value[1]), "latency", LATENCY)


def rate_in(port: Port, rate: Rate, burst: Rate = None, current: Optional[dict[str, Any]] = None,
            mtu: int = validate.DEFAULT_MTU) -> list[Step]:
    """Limit what the guest receives to ``rate`` (``10mbit``; None/"off": no limit) with ``burst``."""
    want: Optional[tuple[int, int]] = None
    if not validate.is_off(rate):
        bps = validate.rate(rate)  # type: ignore[arg-type]  # not None: is_off said so
        want = (bps, validate.burst(burst, bps, mtu))
        probe.require("tbf")
    cur = current or read(port)
    root, ri = cur["root_qdisc"], cur["rate_in"]
    if not root["default"] and not (ri and ri["ours"]):
        raise InvalidInput(f"{port.ifname} has a {root['kind']} root qdisc ({root['handle']}) that vnet-tui did not "
                           "set: remove it first (tc qdisc del dev … root) or leave the rate to its owner",
                           rule="rate-in-foreign-qdisc")
    before = (ri["rate_bps"], ri["burst_bytes"]) if ri and ri["ours"] else None
    if want == before:
        return []
    act = _tbf_set(*want) if want else _tbf_del
    inv = _tbf_set(*before, kernel=ri["kernel"]) if before else _tbf_del
    return [Step("rate_in", _tbf_text(port, want), act, inv, _tbf_text(port, before))]


def rate_out(port: Port, rate: Rate, burst: Rate = None, current: Optional[dict[str, Any]] = None,
             mtu: int = validate.DEFAULT_MTU, table_chains: Optional[list[str]] = None) -> list[Step]:
    """Limit what the guest sends to ``rate`` (policed at the host end's ingress); None/"off": no limit."""
    want: Optional[tuple[int, int]] = None
    if not validate.is_off(rate):
        bps = validate.rate(rate)  # type: ignore[arg-type]  # not None: is_off said so
        want = (bps // 8, validate.burst(burst, bps, mtu))
        probe.require("nft-netdev")
        probe.require("nft-limit")
    cur = current or read(port)
    ro = cur["rate_out"]
    if ro and not ro["ours"]:
        raise InvalidInput(f"{port.ifname}'s ingress is already shaped through {ro.get('via')} by someone else: "
                           "remove that first or leave the rate to its owner", rule="rate-out-foreign")
    before = (ro["rate_bps"] // 8, ro["burst_bytes"]) if ro else None
    if table_chains is None:
        table_chains = (nftrules.table_chain_names(list_ours(port.fd, port.ifname)) or []) if want != before else []
    return chains.steps(port, "rate_out", "rate", want, before, table_chains)
