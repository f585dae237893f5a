"""The VM throughput test's guest side (pair/vmguest.py): the sampler script run by a real shell, its samples
read into rates, the ping plan, the frame to the guest, when nftables' bucket is empty."""

from __future__ import annotations

import socket
import subprocess

import pytest

from vnet_tui.pair import vmguest


def test_the_sampler_script_prints_uptime_and_counters_until_its_end():
    """The script only uses what busybox ash and POSIX sh share: the host's /bin/sh runs it, on lo."""
    out = subprocess.run(["/bin/sh", "-c", vmguest.sampler_script("lo", 0.5)], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    samples = vmguest.parse_samples(out)
    assert len(samples) >= 2 and len(samples) == len(out.splitlines())
    assert samples[-1][0] - samples[0][0] >= 0.5
    assert [s[0] for s in samples] == sorted(s[0] for s in samples)


def _ramp(rate_bps: float, start: float, stop: float, until: float, step: float = 0.1) -> list[tuple[float, int, int]]:
    """Samples of a counter that rises at ``rate_bps`` from ``start`` to ``stop`` (1514-byte frames)."""
    out, t = [], 100.0
    while t <= until + 1e-9:
        sent = max(0.0, min(t, stop) - start) * rate_bps / 8
        out.append((round(t, 2), int(5000 + sent), int(10 + sent // 1514)))
        t += step
    return out


def test_guest_rates_find_the_start_and_measure_between_two_samples_inside_the_sending():
    samples = _ramp(8e6, 100.55, 104.55, 106.0)
    held, per_s, frames = vmguest.guest_rates(samples, 4.0, 1514, True)
    assert held == pytest.approx(8e6, rel=0.01)
    assert len(per_s) == 4 and all(v == pytest.approx(8e6, rel=0.05) for v in per_s[1:3])
    assert frames == pytest.approx(4 * 8e6 / 8 / 1514, abs=2)


def test_guest_rates_without_traffic_is_none():
    assert vmguest.guest_rates(_ramp(8e6, 200.0, 201.0, 103.0), 2.0, 1514, True) is None


@pytest.mark.parametrize("rate", [3e6, 24e6, 90e6])
def test_the_ping_plan_offers_the_rate_in_full_fragments(rate):
    plan = vmguest.ping_plan(rate, 1514, 4.0)
    assert 1 <= plan["fragments"] <= vmguest.MAX_FRAGMENTS
    assert plan["size"] + 8 == 1480 * plan["fragments"]  # ICMP header and data fill whole 1,480-byte fragments
    assert plan["size"] + 8 + 20 <= 65535
    offered = plan["processes"] / plan["interval"] * plan["fragments"] * 1514 * 8
    assert offered == pytest.approx(rate, rel=0.01) and 1 <= plan["processes"] <= vmguest.MAX_PROCESSES
    assert plan["count"] * plan["interval"] >= 4.0
    script = vmguest.sender_script("eth0", "fe:01:02:03:04:05", plan, 4.0)
    assert f"-s {plan['size']}" in script and script.endswith("echo vnet-restore $?")
    assert script.index(f"arp -i eth0 -s {vmguest.TARGET} fe:01:02:03:04:05") < script.index("ping")


def test_the_frame_to_the_guest_is_ipv6_with_no_next_header_from_the_taps_link_local():
    assert vmguest.link_local("c4:37:72:46:94:c9") == "fe80::c637:72ff:fe46:94c9"
    head = vmguest.to_guest_header("c4:37:72:46:94:c9", "fe:01:85:46:94:c9", "fe80::c637:72ff:fe46:94c9", 1514)
    assert len(head) == 54 and head[:6] == bytes.fromhex("c437724694c9") and head[12:14] == b"\x86\xdd"
    assert int.from_bytes(head[18:20], "big") == 1514 - 54 and head[20] == 59
    assert socket.inet_ntop(socket.AF_INET6, head[22:38]) == "fe80::fc01:85ff:fe46:94c9"


def test_the_policers_bucket_is_empty_later_when_the_guest_offers_less():
    lim = {"mechanism": "nft-limit", "rate_bps": 8_000_000, "burst_bytes": 0}
    assert vmguest.bucket_seconds(lim, 24e6, 4.0) == 1.0  # 3×: empty in half a second, the first second skipped
    assert vmguest.bucket_seconds(lim, 12e6, 4.0) == 2.0  # 1.5×: a second's worth drains at 4 Mbit/s
    assert vmguest.bucket_seconds(lim, 9e6, 4.0) == 3.0  # no later than a second before the end
    assert vmguest.bucket_seconds({"mechanism": "tbf", "rate_bps": 8_000_000}, 9e6, 4.0) == 1.0
