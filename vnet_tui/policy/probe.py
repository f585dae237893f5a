"""Which policy mechanisms this kernel has, read once and cached.

From ``/proc/config.gz`` when the kernel exposes its build configuration
(``=y`` built in, ``=m`` a module the kernel loads on first use); else by
trying each mechanism in a throwaway network namespace (``unshare --net``,
a child process, gone when it exits), so nothing is ever tried on a real
interface.  ``require(feature)`` refuses a setting before any change with
rule ``kernel-lacks-<feature>`` naming the kernel option.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from typing import Optional

from vnet_tui.core.errors import InvalidInput

CONFIG_GZ = "/proc/config.gz"

# feature -> (kernel options that must all be y/m, what it is for, a shell probe run in a fresh netns)
FEATURES: dict[str, tuple[tuple[str, ...], str, str]] = {
    "bridge": (("CONFIG_BRIDGE",), "bridge ports (isolation, flooding)",
               "ip link add vtb0 type bridge"),
    "bridge-vlan-filtering": (("CONFIG_BRIDGE", "CONFIG_BRIDGE_VLAN_FILTERING"), "VLANs on bridge ports",
                              "ip link add vtb1 type bridge vlan_filtering 1"),
    "8021q": (("CONFIG_VLAN_8021Q",), "VLAN sub-interfaces",
              "ip link add vta type veth peer name vtb && ip link add link vta name vta.5 type vlan id 5"),
    "tbf": (("CONFIG_NET_SCH_TBF",), "rate-in (shaping what the guest receives)",
            "tc qdisc add dev lo root handle 1: tbf rate 1mbit burst 32k latency 50ms && tc qdisc del dev lo root"),
    "htb": (("CONFIG_NET_SCH_HTB",), "hierarchical shaping",
            "tc qdisc add dev lo root handle 1: htb && tc qdisc del dev lo root"),
    "ingress": (("CONFIG_NET_SCH_INGRESS",), "the ingress qdisc", "tc qdisc add dev lo ingress"),
    "ifb": (("CONFIG_IFB",), "ingress shaping through an ifb device", "ip link add vti0 type ifb"),
    "u32": (("CONFIG_NET_CLS_U32",), "u32 classifier",
            "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: protocol all u32 match u32 0 0"),
    "mirred": (("CONFIG_NET_ACT_MIRRED",), "redirect to ifb",
               "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: protocol all u32 match u32 0 0 "
               "action mirred egress redirect dev lo"),
    "police": (("CONFIG_NET_ACT_POLICE",), "tc policing",
               "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: protocol all u32 match u32 0 0 "
               "action police rate 1mbit burst 10k drop"),
    "gact": (("CONFIG_NET_ACT_GACT",), "tc drop/pass actions",
             "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: protocol all u32 match u32 0 0 "
             "action drop"),
    "flower": (("CONFIG_NET_CLS_FLOWER",), "flower classifier",
               "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: protocol ip flower"),
    "matchall": (("CONFIG_NET_CLS_MATCHALL",), "matchall classifier",
                 "tc qdisc add dev lo ingress; tc filter add dev lo parent ffff: matchall"),
    "nft-netdev": (("CONFIG_NF_TABLES", "CONFIG_NF_TABLES_NETDEV"),
                   "anti-spoofing and rate-out (nftables netdev ingress on the host end)",
                   "nft add table netdev vtp"),
    "nft-bridge": (("CONFIG_NF_TABLES", "CONFIG_NF_TABLES_BRIDGE"), "nftables bridge family",
                   "nft add table bridge vtp"),
    "nft-limit": (("CONFIG_NF_TABLES", "CONFIG_NFT_LIMIT"), "rate-out (nftables limit)",
                  "nft add table netdev vtp && nft add chain netdev vtp c && "
                  "nft add rule netdev vtp c limit rate over 1000 bytes/second drop"),
}

_cache: Optional[dict[str, bool]] = None
_source = ""


def _config() -> Optional[dict[str, str]]:
    try:
        with gzip.open(CONFIG_GZ, "rt", encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    opts: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, _, v = line.partition("=")
            opts[k] = v
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            opts[line[2:-len(" is not set")]] = "n"
    return opts


def _try(script: str) -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        p = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


def features(refresh: bool = False) -> dict[str, bool]:
    """Every known feature → present?  Cached for the process."""
    global _cache, _source
    if _cache is None or refresh:
        cfg = _config()
        if cfg is not None:
            _source = CONFIG_GZ
            _cache = {f: all(cfg.get(o, "n") in ("y", "m") for o in opts) for f, (opts, _w, _p) in FEATURES.items()}
        else:
            _source = "probed in a throwaway namespace"
            _cache = {f: _try(probe) for f, (_o, _w, probe) in FEATURES.items()}
    return dict(_cache)


def source() -> str:
    """Where the answer came from (``/proc/config.gz`` or the namespace probe)."""
    features()
    return _source


def has(feature: str) -> bool:
    if feature not in FEATURES:
        raise KeyError(feature)
    return features()[feature]


def missing_options(feature: str) -> list[str]:
    """The kernel options a missing feature needs (all of them when only probing could tell)."""
    opts = FEATURES[feature][0]
    cfg = _config()
    if cfg is None:
        return list(opts)
    return [o for o in opts if cfg.get(o, "n") not in ("y", "m")]


def require(feature: str) -> None:
    """Refuse (rule ``kernel-lacks-<feature>``) when this kernel lacks ``feature``; nothing is changed."""
    if has(feature):
        return
    opts = " and ".join(missing_options(feature)) or " and ".join(FEATURES[feature][0])
    raise InvalidInput(
        f"{FEATURES[feature][1]} need{'s' if not FEATURES[feature][1].endswith('s') else ''} {opts}, "
        f"which this kernel lacks ({source()}); nothing was changed",
        rule=f"kernel-lacks-{feature}",
    )


def report() -> dict[str, object]:
    """JSON-able: every feature, present or not, and where that was learnt."""
    return {"source": source(), "features": features()}
