"""docker/podman: an adapter added or removed with the engine's own ``network connect`` / ``disconnect``.

The engine keeps the adapter across restarts (a raw veth, ``--raw``, it
does not).  Each plan checks the result by asking the engine again and
disconnects again when a later step fails.
"""

from __future__ import annotations

from typing import Any, Optional

from vnet_tui.core.errors import InvalidInput
from vnet_tui.core.model import Adapter, Container

from . import persist, validate
from .askowner import _again, _module
from .facts import ServerFacts
from .plan import Plan
from .requests import AddRequest

ENGINES = persist.ENGINES


def _networks(details: dict[str, Any]) -> list[str]:
    """The names of the networks a container is on, from its owner's details."""
    nets = details.get("networks") or []
    if isinstance(nets, dict):
        return sorted(nets)
    return sorted(n.get("name") for n in nets if isinstance(n, dict) and n.get("name"))



def engine_network(t: Container, bridge: Optional[str], host_inode: int = 0) -> Optional[str]:
    """The engine network whose bridge is ``bridge``, when ``t`` belongs to docker or podman.

    Bridge names are per namespace: the engine's ``br-…`` is the host's
    only when the engine runs in the host's network namespace.
    """
    if not bridge or t.runtime not in ENGINES or t.owner is None:
        return None
    engine_ns = t.owner.details.get("daemon_netns_inode") or t.owner.control.get("netns_inode")
    if engine_ns and host_inode and engine_ns != host_inode:
        return None
    try:
        return _module(t.runtime).network_of_bridge(t.owner.details, bridge)
    except (AttributeError, ImportError):
        return None


def plan_engine_connect(facts: ServerFacts, t: Container, network: str, req: AddRequest) -> Plan:
    """``docker|podman network connect NETWORK CONTAINER``: the engine makes and keeps the adapter."""
    assert t.owner is not None
    extra = [flag for flag, given in (("--ifname", req.ifname), ("--host-ifname", req.host_ifname),
                                      ("--mtu", req.mtu), ("--routed", req.routed),
                                      ("--host-mac", req.host_mac not in (None, "", "auto")))
             if given]
    if extra:
        raise InvalidInput(
            f"{t.runtime} names and sizes the interfaces of its networks itself: {', '.join(extra)} "
            f"cannot be given when {t.runtime} connects {t.name} to {network}; add --raw for a plain veth "
            f"(lost when {t.name} restarts)", rule="engine-options")
    if network in _networks(t.owner.details):
        raise InvalidInput(f"{t.name} is already on {t.runtime} network {network}", rule="engine-connected")
    warnings: list[str] = []
    mac = None if req.mac in (None, "", "auto") else validate.mac(req.mac, dict(facts.macs()), warnings)
    ipv4 = ipv6 = None
    for text in req.ips:
        addr = validate.ip(text)
        if addr.version == 4 and ipv4 is None:
            ipv4 = str(addr.ip)
        elif addr.version == 6 and ipv6 is None:
            ipv6 = str(addr.ip)
        else:
            raise InvalidInput(f"{t.runtime} takes one IPv4 and one IPv6 address per network", rule="engine-options")
    mod = _module(t.runtime)
    name = t.owner.name
    flags = "".join(f" --{k} {v}" for k, v in (("ip", ipv4), ("ip6", ipv6), ("mac-address", mac)) if v)
    plan = Plan("add", t.name, f"connect {t.name} to {t.runtime} network {network}", warnings=warnings)
    kw = {k: v for k, v in (("ipv4", ipv4), ("ipv6", ipv6), ("mac", mac)) if v}
    plan.add(f"{t.runtime} network connect{flags} {network} {name}",
             lambda live: mod.connect(t.owner.control, t.owner.id, network, **kw))

    def verify(live: Any) -> list[str]:
        rec = _again(t)
        if rec is None:
            return [f"{t.runtime} no longer reports {t.name}"]
        if network not in _networks(rec.details):
            return [f"{t.runtime} does not show {t.name} on {network}"]
        return []

    def rollback(live: Any) -> list[str]:
        rec = _again(t)
        if rec is not None and network in _networks(rec.details):
            try:
                mod.disconnect(t.owner.control, t.owner.id, network)
            except Exception as e:  # say what is left
                return [f"{t.name} is still on {network}: {e}"]
        return []

    plan.verify, plan.rollback = verify, rollback
    target = {"kind": "engine", "owner": t.name, "runtime": t.runtime, "network": network, "id": t.owner.id}
    plan.record = lambda live: {"target": target, "before": None, "after": {"network": network}}
    plan.persists = persist.engine(t, network)
    plan.owner = persist.owner_record(t, kept_by_owner=True)
    return plan


def engine_endpoint(t: Container, adapter: Adapter) -> Optional[str]:
    """The engine network ``adapter`` is ``t``'s endpoint on (matched by the guest end's MAC)."""
    if t.runtime not in ENGINES or t.owner is None or adapter.guest is None:
        return None
    mac = (adapter.guest.mac or "").lower()
    nets = t.owner.details.get("networks") or []
    items = nets.items() if isinstance(nets, dict) else [(n.get("name"), n) for n in nets if isinstance(n, dict)]
    for name, n in items:
        if isinstance(n, dict) and mac and (n.get("mac") or n.get("mac_address") or "").lower() == mac:
            return name
    return None


def plan_engine_disconnect(t: Container, adapter: Adapter, network: str) -> Plan:
    assert t.owner is not None and adapter.guest is not None
    mod = _module(t.runtime)
    plan = Plan("del", t.name, f"disconnect {t.name} from {t.runtime} network {network}")
    plan.add(f"{t.runtime} network disconnect {network} {t.owner.name}",
             lambda live: mod.disconnect(t.owner.control, t.owner.id, network))

    def verify(live: Any) -> list[str]:
        rec = _again(t)
        return [f"{t.runtime} still shows {t.name} on {network}"] if rec and network in _networks(rec.details) else []

    def rollback(live: Any) -> list[str]:
        rec = _again(t)
        if rec is not None and network not in _networks(rec.details):
            try:
                mod.connect(t.owner.control, t.owner.id, network)
            except Exception as e:
                return [f"{t.name} could not be put back on {network}: {e}"]
        return []

    plan.verify, plan.rollback = verify, rollback
    target = {"kind": "engine", "owner": t.name, "runtime": t.runtime, "network": network, "id": t.owner.id}
    plan.record = lambda live: {"target": target, "before": {"network": network, "mac": adapter.guest.mac},
                                "after": None}
    plan.persists = f"yes: {t.runtime} forgets the network for {t.name} (it stays off after restarts)"
    plan.owner = persist.owner_record(t, kept_by_owner=True)
    return plan
