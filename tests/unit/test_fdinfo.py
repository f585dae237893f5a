"""Tap names from /proc/PID/fdinfo: the parser, and a real tap opened here."""

from __future__ import annotations

import fcntl
import os
import secrets
import struct

import pytest

from tests.helpers import ip_json, netns
from vnet_tui.discovery.qemu import parse_fdinfo, tap_ifnames
from vnet_tui.net.netns import entered, open_netns

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

TAP_FDINFO = "pos:\t0\nflags:\t0104002\nmnt_id:\t60\nino:\t105\niff:\tvme0000aa01.0\n"
FILE_FDINFO = "pos:\t0\nflags:\t02100000\nmnt_id:\t25\nino:\t1312\n"


def open_tap(ns: str, ifname: str) -> int:
    """Open /dev/net/tun inside namespace ``ns`` and attach it to a new tap ``ifname``.

    The tap lives as long as the returned fd (it is not persistent).
    """
    nsfd = open_netns(ns)
    try:
        with entered(nsfd):  # the tap is made in the opener's namespace
            fd = os.open("/dev/net/tun", os.O_RDWR)
            try:
                fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", ifname.encode(), IFF_TAP | IFF_NO_PI))
            except OSError:
                os.close(fd)
                raise
            return fd
    finally:
        os.close(nsfd)


def test_parse_fdinfo_of_a_tap() -> None:
    assert parse_fdinfo(TAP_FDINFO) == "vme0000aa01.0"


def test_parse_fdinfo_of_other_files() -> None:
    assert parse_fdinfo(FILE_FDINFO) is None
    assert parse_fdinfo("") is None
    assert parse_fdinfo("iff:\t\n") is None  # a tun fd not attached yet


@pytest.mark.live
def test_tap_ifnames_sees_a_tap_this_process_holds() -> None:
    tap = f"vme{secrets.token_hex(4)}.0"
    with netns() as (ns,):
        fd = open_tap(ns, tap)
        try:
            assert [l["ifname"] for l in ip_json("link", "show", tap, netns=ns)] == [tap]
            assert tap_ifnames(os.getpid()).get(fd) == tap
        finally:
            os.close(fd)
        assert tap not in tap_ifnames(os.getpid()).values()
        assert ip_json("link", "show", netns=ns) and not any(
            l["ifname"] == tap for l in ip_json("link", "show", netns=ns)
        )


def test_tap_ifnames_of_a_gone_process() -> None:
    assert tap_ifnames(2**22 + 1) == {}
