"""Build the panes' rows from a Topology, reusing rows whose facts did not change.

With 1,000 containers a structural change (one link down) arrives as a
whole new Topology; rebuilding 3,000 rows of rich Text took ~100 ms.
Each row is cached under its key with a signature of the facts it shows
(a tuple, cheap to compare); an unchanged row is the same object, and
the pane skips it.
"""

from __future__ import annotations

from typing import Callable, Iterable, Optional

from rich.text import Text

from vnet_tui.core.model import VM, Container, Interface, Topology, VMNic
from vnet_tui.core.text import safe
from vnet_tui.discovery.guestips import GuestIps

from .looks import LOOKS
from .rows import End, Row, _hay, _iface_hay, addr_list_text, addr_text, natural_key, peer_text, state_text


# A row's signature holds the Interface objects themselves: tuples compare their
# items with ``is`` first, and the live feed hands over the same object for an
# interface that did not change (live/assemble.py), so an unchanged row costs
# an identity check; a recording falls back to comparing values.


class RowCache:
    """Rows of the last build, by key, with the signature they were built from."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[tuple, Row]] = {}
        self._next: dict[str, tuple[tuple, Row]] = {}
        # a container's rows at once: key -> (signature, [(row key, (row signature, row))])
        self.groups: dict[str, tuple[tuple, list[tuple[str, tuple[tuple, Row]]]]] = {}
        self._next_groups: dict[str, tuple[tuple, list[tuple[str, tuple[tuple, Row]]]]] = {}

    built = 0  # rows built (not found unchanged), ever
    index: Optional["Index"] = None  # the lookups of the last build, for the next change to patch

    def get(self, key: str, sig: tuple, build: Callable[[], Row]) -> Row:
        hit = self.rows.get(key)
        if hit is not None and hit[0] == sig:
            row = hit[1]
        else:
            row = build()
            self.built += 1
        self._next[key] = (sig, row)
        return row

    def group(self, key: str, sig: tuple) -> Optional[list[Row]]:
        """The rows of a group (one container) if its signature is unchanged; they are kept."""
        hit = self.groups.get(key)
        if hit is None or hit[0] != sig:
            return None
        nxt = self._next
        for k, entry in hit[1]:
            nxt[k] = entry
        self._next_groups[key] = hit
        return [entry[1] for _, entry in hit[1]]

    def set_group(self, key: str, sig: tuple, keys: list[str]) -> None:
        """Remember that the rows under ``keys`` (just built or fetched) make the group."""
        self._next_groups[key] = (sig, [(k, self._next[k]) for k in keys])

    def done(self) -> None:
        """Forget the rows that this build did not produce."""
        self.rows, self._next = self._next, {}
        self.groups, self._next_groups = self._next_groups, {}

    def patch(self) -> None:
        """A build of some rows only (``changed_rows``): every row of the last build is kept."""
        self._next, self._next_groups = dict(self.rows), dict(self.groups)


class Index:
    """Lookups over one Topology: ends by namespace and ifindex."""

    def __init__(self, topo: Topology, guest_ips: Optional[GuestIps] = None,
                 _from: Optional["Index"] = None) -> None:
        self.topo = topo
        self.guest_ips = guest_ips or {}
        self.label = topo.host.hostname or "host"
        self.host_inode = topo.host.inode
        self.where = topo.host.netns or "root namespace"
        self.base = (self.label, self.where, self.host_inode, LOOKS.generation)  # a new palette: new rows
        self.vm_by_name = {v.name: v for v in topo.vms}
        # where each host end and container sits in the topology's lists (made when an Index follows this one)
        self._host_pos: Optional[dict[int, int]] = None
        self._ct_pos: Optional[dict[int, int]] = None
        if _from is not None:  # (``following``: the four maps below, patched)
            return
        self.host_by_index = {i.ifindex: i for i in topo.host.interfaces}
        self.host_by_name = {i.ifname: i for i in topo.host.interfaces}
        self.ct_by_name = {c.name: c for c in topo.containers}
        self.ct_by_inode = {c.netns.inode: c for c in topo.containers}

    @classmethod
    def following(cls, prev: Optional["Index"], topo: Topology,
                  guest_ips: Optional[GuestIps] = None) -> Optional["Index"]:
        """The Index of ``topo`` made from ``prev``'s, if ``topo.change`` counts from ``prev``'s topology:
        its maps copied and only the host ends and containers the change names put in (at 5,000
        containers four maps made anew cost ~3 ms of every outside change).  None where that does
        not hold: the caller makes one anew."""
        ch = topo.change
        if prev is None or ch is None or ch.after is None or prev.topo.change is None \
                or prev.topo.change.serial != ch.after or prev.topo.host.inode != topo.host.inode \
                or len(prev.topo.host.interfaces) != len(topo.host.interfaces) \
                or len(prev.topo.containers) != len(topo.containers):
            return None
        if prev._host_pos is None:
            prev._host_pos = {i.ifindex: n for n, i in enumerate(prev.topo.host.interfaces)}
            prev._ct_pos = {c.netns.inode: n for n, c in enumerate(prev.topo.containers)}
        host_pos, ct_pos = prev._host_pos, prev._ct_pos
        assert ct_pos is not None
        hosts, cts = topo.host.interfaces, topo.containers
        moved = []
        for ifx in ch.host:
            n = host_pos.get(ifx)
            if n is None or hosts[n].ifindex != ifx or hosts[n].ifname != prev.host_by_index[ifx].ifname:
                return None  # not where it was, or renamed: a partial change never does that
            moved.append(hosts[n])
        changed = []
        for inode in ch.containers:
            n = ct_pos.get(inode)
            if n is None or cts[n].netns.inode != inode or cts[n].name != prev.ct_by_inode[inode].name:
                return None
            changed.append(cts[n])
        ix = cls(topo, guest_ips, _from=prev)
        ix._host_pos, ix._ct_pos = host_pos, ct_pos  # the same places: the lists are patched in place
        ix.host_by_index, ix.host_by_name = dict(prev.host_by_index), dict(prev.host_by_name)
        ix.ct_by_name, ix.ct_by_inode = dict(prev.ct_by_name), dict(prev.ct_by_inode)
        for i in moved:
            ix.host_by_index[i.ifindex] = ix.host_by_name[i.ifname] = i
        for c in changed:
            ix.ct_by_inode[c.netns.inode] = c
            named = prev.ct_by_name.get(c.name)
            if named is not None and named.netns.inode == c.netns.inode:  # (of two of one name, the last in
                ix.ct_by_name[c.name] = c                                  # the list has it, as a new map)
        return ix

    def host_end(self, i: Optional[Interface], role: str = "host end") -> Optional[End]:
        if i is None:
            return None
        return End(role, self.label, self.where, i, (self.host_inode, i.ifindex))

    def container_end(self, c: Container, i: Interface) -> End:
        where = c.netns.name or f"netns inode {c.netns.inode}"
        return End("guest end", c.name, where, i, (c.netns.inode, i.ifindex))

    def vm_end(self, vm: VM, a: VMNic) -> End:
        tap = self.host_by_name.get(a.host_ifname or "")
        key = (self.host_inode, tap.ifindex) if tap else None
        return End("guest end", vm.name, f"VM pid {vm.pid}", key=key, vm=vm, vm_adapter=a, at_tap=True,
                   guest_addrs=self.guest_addrs(vm, a))

    def guest_addrs(self, vm: VM, a: VMNic) -> Optional[tuple[str, ...]]:
        """What the guest agent last reported for this NIC (None: never asked, or no agent)."""
        return self.guest_ips.get((vm.pid, (a.guest_mac or "").lower()))


def _host_row(ix: Index, i: Interface) -> tuple[tuple, Callable[[], Row]]:
    p = i.peer
    c = g = vm = a = other = None
    if p is not None and p.kind == "container":
        c = ix.ct_by_name.get(p.owner or "")
        g = next((x for x in c.interfaces if x.ifindex == p.ifindex), None) if c else None
    elif p is not None and p.kind == "vm":
        vm = ix.vm_by_name.get(p.owner or "")
        a = next((x for x in vm.adapters if x.id == p.adapter), None) if vm else None
    elif p is not None:
        other = ix.host_by_index.get(p.ifindex or -1)
    sig = (ix.base, i, c and (c.name, c.netns.name, c.netns.inode), g,
           vm and (vm.name, vm.pid, vm.running), a and (a.id, a.guest_mac, a.host_ifname), other)

    def build() -> Row:
        host = ix.host_end(i)
        guest: Optional[End] = None
        if c is not None and g is not None:
            guest = ix.container_end(c, g)
        elif vm is not None and a is not None:
            guest = ix.vm_end(vm, a)
        elif other is not None:
            guest = ix.host_end(other, role="other end")
        if guest is None and host is not None:
            host.role = "interface"
        cells = {
            "name": safe(i.ifname),
            "kind": safe(i.kind, style=LOOKS.kind),
            "state": state_text(i.state),
            "mac": safe(i.mac or ""),
            "addr": addr_text(i),
            "master": safe(i.master or ""),
            "peer": peer_text(i),
        }
        hay = _hay(i.kind, i.master) + " " + _iface_hay(i)
        if guest is not None:  # an adapter is found by either end's facts
            va = guest.vm_adapter
            hay += " " + (_hay(guest.owner, va.id, va.guest_mac) if va else _iface_hay(guest.iface))
        return Row(f"h:{i.ifindex}", cells, i.ifname, (ix.host_inode, i.ifindex), False, guest, host,
                   hay, (natural_key(i.ifname),))

    return sig, build


def host_rows(ix: Index, cache: RowCache, ifaces: Optional[Iterable[Interface]] = None) -> list[Row]:
    rows = []
    for i in ix.topo.host.interfaces if ifaces is None else ifaces:
        sig, build = _host_row(ix, i)
        rows.append(cache.get(f"h:{i.ifindex}", sig, build))
    return rows


def container_rows(ix: Index, cache: RowCache, containers: Optional[Iterable[Container]] = None) -> list[Row]:
    rows = []
    by_index = ix.host_by_index
    for c in ix.topo.containers if containers is None else containers:
        # the live feed hands over the same Container while nothing in it changed: then its rows
        # are those of last time unless a host end they show changed (one check per container)
        gkey = f"c:{c.netns.inode}"
        gsig = (ix.base, c, tuple([by_index.get(p.ifindex or -1) if (p := i.peer) is not None and p.kind == "host"
                                   else None for i in c.interfaces]))
        same = cache.group(gkey, gsig)
        if same is not None:
            rows.extend(same)
            continue
        first = len(rows)
        ifaces = [i for i in c.interfaces if i.kind != "loopback"]
        csig = (ix.base, c.name, c.runtime, c.netns.name, c.netns.inode)
        if not ifaces:
            def empty(c: Container = c) -> Row:
                cells = {"owner": safe(c.name, style=LOOKS.owner), "name": Text("(no adapter)", style=LOOKS.none)}
                return Row(f"c:{c.netns.inode}:-", cells, c.name, haystack=_hay(c.name, c.runtime),
                           natural=(natural_key(c.name),))
            rows.append(cache.get(f"c:{c.netns.inode}:-", csig, empty))
            cache.set_group(gkey, gsig, [rows[-1].key])
            continue
        for i in ifaces:
            p = i.peer
            h = ix.host_by_index.get(p.ifindex or -1) if p is not None and p.kind == "host" else None

            def build(c: Container = c, i: Interface = i, h: Optional[Interface] = h) -> Row:
                cells = {
                    "owner": safe(c.name, style=LOOKS.owner),
                    "runtime": safe(c.runtime, style=LOOKS.kind),
                    "name": safe(i.ifname),
                    "state": state_text(i.state),
                    "mac": safe(i.mac or ""),
                    "addr": addr_text(i),
                    "hostend": safe(h.ifname if h else ""),
                    "master": safe(h.master if h else ""),
                }
                return Row(f"c:{c.netns.inode}:{i.ifindex}", cells, f"{c.name}/{i.ifname}",
                           (c.netns.inode, i.ifindex), False, ix.container_end(c, i), ix.host_end(h),
                           _hay(c.name, c.runtime, c.netns.name) + " " + _iface_hay(i) + " " + _iface_hay(h),
                           (natural_key(c.name), natural_key(i.ifname)))

            rows.append(cache.get(f"c:{c.netns.inode}:{i.ifindex}", (csig, i, h), build))
        cache.set_group(gkey, gsig, [r.key for r in rows[first:]])
    return rows


def vm_rows(ix: Index, cache: RowCache) -> list[Row]:
    rows = []
    for vm in ix.topo.vms:
        status = getattr(vm, "state", None) or ("running" if vm.running else "paused")  # the owner's word first
        vsig = (ix.base, vm.name, vm.pid, vm.running, status)
        if not vm.adapters:
            def empty(vm: VM = vm) -> Row:
                cells = {"owner": safe(vm.name, style=LOOKS.owner), "vmstate": state_text(status),
                         "name": Text("(no adapter)", style=LOOKS.none)}
                return Row(f"v:{vm.pid}:-", cells, vm.name, haystack=_hay(vm.name, status),
                           natural=(natural_key(vm.name),))
            rows.append(cache.get(f"v:{vm.pid}:-", vsig, empty))
            continue
        for a in vm.adapters:
            tap = ix.host_by_name.get(a.host_ifname or "")

            ips = ix.guest_addrs(vm, a) or ()

            def build(vm: VM = vm, a: VMNic = a, tap: Optional[Interface] = tap,
                      ips: tuple[str, ...] = ips) -> Row:
                cells = {
                    "owner": safe(vm.name, style=LOOKS.owner),
                    "vmstate": state_text(status),
                    "name": safe(a.id),
                    "mac": safe(a.guest_mac or "?"),
                    "addr": addr_list_text(ips),
                    "hostend": safe(a.host_ifname or "?"),
                    "state": state_text(tap.state) if tap else Text("gone", style=LOOKS.gone),
                    "master": safe(tap.master if tap else ""),
                }
                end = (ix.host_inode, tap.ifindex) if tap else None
                return Row(f"v:{vm.pid}:{a.id}", cells, f"{vm.name}/{a.id}", end, True,
                           ix.vm_end(vm, a), ix.host_end(tap),
                           _hay(vm.name, status, a.id, a.guest_mac, a.host_ifname, *ips) + " " + _iface_hay(tap),
                           (natural_key(vm.name), natural_key(a.id)))

            rows.append(cache.get(f"v:{vm.pid}:{a.id}", (vsig, a.id, a.guest_mac, a.host_ifname, tap, ips),
                                  build))
    return rows


def all_rows(topo: Topology, cache: Optional[RowCache] = None,
             guest_ips: Optional[GuestIps] = None) -> dict[str, list[Row]]:
    """Rows of every pane, keyed by pane id, in name order (``guest_ips``: lab VMs' agent reports)."""
    cache = cache or RowCache()
    ix = cache.index = Index(topo, guest_ips)
    out = {"host": host_rows(ix, cache), "containers": container_rows(ix, cache), "vms": vm_rows(ix, cache)}
    cache.done()
    for rows in out.values():
        rows.sort(key=lambda r: r.natural)
    return out


def changed_rows(topo: Topology, cache: RowCache, guest_ips: Optional[GuestIps] = None) -> Optional[dict[str, list[Row]]]:
    """The rows that ``topo.change`` can have changed, built (or found unchanged) in ``cache``: the host ends
    and containers it names, the ends paired with them, and every VM's (a few); None if it names nothing
    to go by.  Every other row of the last build stays as it was (``RowCache.patch``)."""
    ch = topo.change
    if ch is None or ch.after is None:
        return None
    ix = Index.following(cache.index, topo, guest_ips) or Index(topo, guest_ips)
    host_ends = set(ch.host)
    inodes = set(ch.containers)
    by_inode = ix.ct_by_inode
    for inode in ch.containers:
        c = by_inode.get(inode)
        if c is None:
            return None
        host_ends.update(p.ifindex for i in c.interfaces if (p := i.peer) is not None and p.kind == "host"
                         and p.ifindex is not None)
    for ifx in ch.host:
        h = ix.host_by_index.get(ifx)
        if h is None:
            return None
        p = h.peer
        if p is not None and p.kind == "container" and (c := ix.ct_by_name.get(p.owner or "")) is not None:
            inodes.add(c.netns.inode)
        elif p is not None and p.kind == "host" and p.ifindex is not None:
            host_ends.add(p.ifindex)  # a pair inside the host: the other end's row shows this one
    ifaces = [ix.host_by_index[i] for i in host_ends if i in ix.host_by_index]
    cache.patch()
    out = {"host": host_rows(ix, cache, ifaces), "containers": container_rows(ix, cache, [by_inode[i] for i in inodes]),
           "vms": vm_rows(ix, cache)}
    cache.done()
    cache.index = ix
    return out
