"""What the app reads beside the feed, in thread workers: the shown host end's policy, lab VMs' guest
addresses, and changes an earlier process left half-made.  Each result lands in the app's state
(``policy_words``, ``guest_ips``: vars the screens watch) or a notification; no widget is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from textual import work
from textual.app import App
from textual.reactive import var
from textual.timer import Timer

from .detail import host_ifname
from .messages import GuestIpsRead, PolicyWords, RecoveryNotes
from .rows import Row

if TYPE_CHECKING:
    from vnet_tui.core.model import Topology
    from vnet_tui.core.server import Server

POLICY_EVERY = 3.0  # seconds between reads of the shown host end's policy
POLICY_SETTLE = 0.25  # seconds the selection rests before its policy is read
GUEST_IPS_EVERY = 5.0  # seconds between asking the lab VMs' guest agents for their addresses


class Readers(App):
    """The app's side reads (a mixin of VnetApp: ``server``, ``topo`` and the screens are the app's)."""

    policy_words: var[dict[str, list[str]]] = var(dict, init=False)
    """The shown host end's policy (read.summary), by ifname: only the shown one."""
    guest_ips: var[dict] = var(dict, init=False)
    """Lab VMs' NIC addresses as their agents last said (discovery.guestips)."""

    server: Optional["Server"]
    topo: Optional["Topology"]

    def init_readers(self) -> None:
        """In ``__init__``: nothing read yet."""
        self.policy_asked: Optional[str] = None  # the host end whose policy is shown (and re-read)
        self._policy_timer: Optional[Timer] = None  # the read of a new selection's policy, once it rests
        self.vm_facts: tuple = ()  # the VMs and NICs the guest addresses were last asked for

    def start_readers(self) -> None:
        """Once mounted: read again every few seconds."""
        if self.server is not None:
            self.set_interval(POLICY_EVERY, self.refresh_policy, name="policy")
            self.set_interval(GUEST_IPS_EVERY, self.refresh_guest_ips, name="guest-ips")

    # -- changes an earlier process left half-made (the write-ahead journal) ----------
    @work(thread=True, group="recovery", description="settle interrupted changes", exit_on_error=False)
    def recover_at_start(self) -> None:
        from vnet_tui.safety import journal

        try:
            todo = bool(journal.incomplete())
        except Exception:  # noqa: BLE001 - at_start reads it again and says why it cannot
            todo = True
        if not todo:  # the usual start: not the recovery's modules, 0.6 s of imports that held the
            return  # interpreter while a big server's first picture was read (5,000 containers)
        try:
            from vnet_tui.txn import recover

            notes = recover.at_start()
        except Exception as e:  # at_start never raises; should it, say so rather than stop the app
            notes = [f"interrupted changes not settled: {type(e).__name__}: {e}"]
        if notes:
            self.post_message(RecoveryNotes(notes))

    def on_recovery_notes(self, msg: RecoveryNotes) -> None:
        for note in msg.notes:
            self.notify(note, title="settled at start: an interrupted change", severity="warning", timeout=15,
                        markup=False)

    # -- the shown adapter's policy (read in a worker, never on the UI thread) --------
    def policy_for(self, row: Optional[Row]) -> Optional[list[str]]:
        """The policy words of ``row``'s host end as last read; a new selection starts a read."""
        name = host_ifname(row) if self.server is not None else None
        if name != self.policy_asked:
            self.policy_asked = name
            if name is not None:
                # once the cursor rests: a key held down through a thousand rows asks nothing (the read
                # may run nft as a process of its own: policy/nft.py, past ~1,000 open descriptors)
                if self._policy_timer is not None:
                    self._policy_timer.stop()
                self._policy_timer = self.set_timer(POLICY_SETTLE, lambda: self._read_if_shown(name))
        return self.policy_words.get(name) if name is not None else None

    def _read_if_shown(self, name: str) -> None:
        self._policy_timer = None
        if name == self.policy_asked:
            self.read_policy(name)

    def refresh_policy(self) -> None:
        """Every few seconds, while an adapter's detail is on screen: read its policy again.

        The timer can fire while the app exits, after its last screen went (``self.screen`` would
        raise ScreenStackError, which ended a bench probe's run): the stack is looked at, not asked."""
        stack = self.screen_stack
        if self.policy_asked is not None and stack and getattr(stack[-1], "SHOWS_POLICY", False):
            self.read_policy(self.policy_asked)

    @work(thread=True, group="policy", exclusive=True, exit_on_error=False, description="policy read")
    def read_policy(self, ifname: str) -> None:
        from vnet_tui.policy import read as pread

        assert self.server is not None
        try:
            words = pread.summary(pread.read_many(self.server.host_netns, [ifname])[ifname])
        except Exception:  # gone, not ours to read, no such namespace: nothing shown
            words = []
        self.post_message(PolicyWords(ifname, words))

    def on_policy_words(self, msg: PolicyWords) -> None:
        if msg.ifname != self.policy_asked or self.policy_words.get(msg.ifname) == msg.words:
            return
        self.policy_words = {msg.ifname: msg.words}  # only the shown one: nothing kept for rows gone

    # -- lab VMs' guest addresses (their agents, asked in a worker) ------------------
    def refresh_guest_ips(self) -> None:
        from vnet_tui.discovery import guestips

        if any(type(s).__name__ == "PairScreen" for s in self.screen_stack):
            return  # the pair view polls a guest agent every second: an agent takes one client at a time
        if self.topo is not None and self.server is not None and guestips.askable(self.topo.vms):
            self.read_guest_ips(list(self.topo.vms))

    def ask_guests_if_vms_changed(self, topo: "Topology") -> None:
        """A VM new, gone or changed: ask its agent now, not at the next round."""
        vms = tuple((vm.pid, vm.running, tuple(a.guest_mac for a in vm.adapters)) for vm in topo.vms)
        if vms != self.vm_facts:
            self.vm_facts = vms
            self.refresh_guest_ips()

    @work(thread=True, group="guest-ips", exclusive=True, exit_on_error=False, description="guest agents")
    def read_guest_ips(self, vms: list) -> None:
        from vnet_tui.discovery import guestips

        ips, silent = guestips.read(vms)
        self.post_message(GuestIpsRead(ips, silent))

    def on_guest_ips_read(self, msg: GuestIpsRead) -> None:
        # a VM that did not answer this time keeps what it said last; VMs gone are forgotten
        alive = {vm.pid for vm in self.topo.vms} if self.topo is not None else set()
        ips = {k: v for k, v in self.guest_ips.items() if k[0] in msg.silent and k[0] in alive}
        ips.update(msg.ips)
        if ips != self.guest_ips:
            self.guest_ips = ips
