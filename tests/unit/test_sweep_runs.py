"""A dump's run of same-length replies read with one ``iter_unpack`` (net/sweep.py ``_run_of_replies``).

The kernel cannot be made to flag a dump interrupted, or to leave another request's message in the
middle of one, on demand: here the bytes are built as the kernel lays them out (nlmsghdr,
if_stats_msg, one IFLA_STATS_LINK_64 attribute, struct rtnl_link_stats64) and fed to the sweep's
reader in chunks, each case with the counters it must give.  The live test (tests/live/test_sweep.py)
reads a real namespace's dump of many links both ways.
"""

from __future__ import annotations

import pytest

from vnet_tui.net import rtnl
from vnet_tui.net.rtnl.message import NLMSGHDR
from vnet_tui.net.rtnl.stats import FILTER_LINK_64, REPLY, packed
from vnet_tui.net.session import DumpInterrupted
from vnet_tui.net.sweep import SweepPlan, _collect, _run_of_replies

SEQ, PID, INODE = 0x80000007, 4242, 99
MULTI = rtnl.NLM_F_MULTI


def counters(ifindex: int) -> bytes:
    """The counters a reply of ``ifindex`` carries, as the sweep gives them (the kernel's bytes)."""
    return packed([ifindex * 1000 + i for i in range(8)])


def reply(ifindex: int, seq: int = SEQ, flags: int = MULTI, length: int = 232) -> bytes:
    head = REPLY.pack(length, rtnl.RTM_NEWSTATS, flags, seq, PID, 0, ifindex, FILTER_LINK_64, length - 28,
                      rtnl.IFLA_STATS_LINK_64, counters(ifindex))
    return head + bytes(length - len(head))


def done(seq: int = SEQ) -> bytes:
    return NLMSGHDR.pack(20, rtnl.NLMSG_DONE, MULTI, seq, PID) + bytes(4)


class Chunks:
    """A socket whose ``recv_into`` hands out the given chunks, one per call."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.sock = self

    def recv_into(self, buf: bytearray) -> int:
        data = self.chunks.pop(0)
        buf[: len(data)] = data
        return len(data)


def read(chunks: list[bytes]) -> dict:
    out: dict = {}
    _collect(Chunks(chunks), bytearray(1 << 16), SEQ, INODE, out)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("length", [232, 240, 96])
def test_a_dump_in_runs_gives_every_link(length):
    first = b"".join(reply(i, length=length) for i in range(1, 41))
    second = b"".join(reply(i, length=length) for i in range(41, 61)) + done()
    out = read([first, second])
    assert out == {(INODE, i): counters(i) for i in range(1, 61)}


def test_the_run_stops_where_the_messages_change():
    buf = bytearray(b"".join(reply(i) for i in range(1, 21)) + done())
    out: dict = {}
    assert _run_of_replies(buf, len(buf), SEQ, INODE, out) == 20 * 232  # the NLMSG_DONE is the loop's
    assert len(out) == 20
    buf = bytearray(b"".join(reply(i, seq=SEQ if i != 6 else SEQ - 1) for i in range(1, 21)))
    out = {}
    assert _run_of_replies(buf, len(buf), SEQ, INODE, out) == 5 * 232
    assert sorted(k[1] for k in out) == [1, 2, 3, 4, 5]


def test_another_requests_message_in_a_run_is_skipped():
    chunk = b"".join(reply(i, seq=SEQ if i != 9 else 12345) for i in range(1, 31)) + done()
    out = read([chunk])
    assert out == {(INODE, i): counters(i) for i in range(1, 31) if i != 9}


def test_a_dump_flagged_interrupted_in_the_middle_of_a_run_is_said_so():
    chunk = b"".join(reply(i, flags=MULTI | (rtnl.NLM_F_DUMP_INTR if i == 12 else 0)) for i in range(1, 31))
    with pytest.raises(DumpInterrupted):
        read([chunk, done()])


def small(chunk: bytes) -> tuple[bool, dict]:
    buf = bytearray(1 << 16)
    buf[: len(chunk)] = chunk
    out: dict = {}
    return SweepPlan._small_dump(buf, len(chunk), SEQ, INODE, out), out


def test_a_small_dump_in_one_read_is_read_there():
    ok, out = small(reply(1) + reply(7) + done())
    assert ok and out == {(INODE, 1): counters(1), (INODE, 7): counters(7)}
    ok, out = small(done())  # a namespace without links to read
    assert ok and out == {}


@pytest.mark.parametrize("chunk", [
    reply(1) + reply(7),  # no NLMSG_DONE: more to read
    reply(1) + reply(7, seq=SEQ - 1) + done(),  # another request's message
    reply(1) + reply(7, flags=MULTI | rtnl.NLM_F_DUMP_INTR) + done(),  # the dump flagged interrupted
    reply(1) + done(SEQ - 1),  # another request's end
    reply(1)[:60] + done(),  # a message too short to be a reply
], ids=["no-done", "foreign-message", "interrupted", "foreign-done", "short"])
def test_anything_else_is_left_to_the_general_reader(chunk):
    ok, _out = small(chunk)
    assert not ok
