"""Names an operator can use: unique display names, and targets that never pick silently.

Owners' names collide (``web`` in docker and in podman, two nspawn
machines whose process is ``sleep``).  Every container and VM gets a
display name that is unique on the server:

* its owner's name when no other container or VM has it;
* ``NAME@RUNTIME`` when the colliding ones belong to different runtimes;
* ``NAME#N`` (N = 1, 2, … in order of their stable keys) otherwise.

A *target* typed by the operator may be a display name, an owner's
name, an id or an id prefix (4 characters or more), a netns name, or
``pid:N``.  One that matches more than one container or VM is refused
(rule ``target-ambiguous``), listing every candidate and how to name it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Optional, Protocol, Sequence, Union

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Container

Target = Union[Container, VM]
MIN_ID_PREFIX = 4


class Named(Protocol):
    """What display naming needs of a container or VM."""

    runtime: str
    owner_name: str
    key: str  # stable and unique: runtime + id


def displays(items: Sequence[Named]) -> dict[str, str]:
    """key -> unique display name, for every item."""
    groups: dict[str, list[Named]] = defaultdict(list)
    for it in items:
        groups[it.owner_name].append(it)
    out: dict[str, str] = {}
    taken = {name for name, g in groups.items() if len(g) == 1}
    for name, group in groups.items():
        if len(group) == 1:
            out[group[0].key] = name
            continue
        runtimes = [g.runtime for g in group]
        for it in sorted(group, key=lambda g: g.key):
            n = runtimes.count(it.runtime)
            cand = f"{name}@{it.runtime}"
            if n > 1:
                same = sorted((g for g in group if g.runtime == it.runtime), key=lambda g: g.key)
                cand = f"{name}#{same.index(it) + 1}" if len(set(runtimes)) == 1 else \
                    f"{name}@{it.runtime}#{same.index(it) + 1}"
            while cand in taken:  # a container really named "web@docker": keep going
                cand += "_"
            taken.add(cand)
            out[it.key] = cand
    return out


def ident(t: Target) -> Optional[str]:
    return t.owner.id if t.owner is not None else None


def how_to_name(t: Target) -> str:
    """One line for a candidate: its display name and the other names that reach it alone."""
    kind = "VM" if isinstance(t, VM) else "container"
    bits = [f"{t.runtime} {kind}"]
    tid = ident(t)
    if tid:
        bits.append(f"id {tid[:12]}")
    if isinstance(t, Container):
        if t.netns.name:
            bits.append(f"netns {t.netns.name}")
        if t.netns.pids:
            bits.append(f"pid:{t.netns.pids[0]}")
    else:
        bits.append(f"pid:{t.pid}")
    if t.owner and t.owner.state:
        bits.append(t.owner.state)
    return f"{t.name} ({', '.join(bits)})"


def matches(t: Target, text: str, lab_prefix: Optional[str] = None) -> bool:
    """Whether ``text`` names ``t`` (not counting its unique display name)."""
    if text in (t.name, t.owner_name, f"{t.owner_name}@{t.runtime}"):  # NAME@RUNTIME even while unique
        return True
    tid = ident(t)
    if tid and (text == tid or (len(text) >= MIN_ID_PREFIX and tid.startswith(text))):
        return True
    if text.startswith("pid:") and text[4:].isdigit():
        pid = int(text[4:])
        return pid == t.pid if isinstance(t, VM) else pid in t.netns.pids
    if isinstance(t, Container) and t.netns.name:
        if text == t.netns.name or (lab_prefix and text == t.netns.name[len(lab_prefix):]
                                    and t.netns.name.startswith(lab_prefix)):
            return True
    return False


def resolve(targets: Iterable[Target], text: str, lab_prefix: Optional[str] = None) -> Target:
    """The one container or VM ``text`` names; InvalidInput (target-ambiguous) or NotFound."""
    every = list(targets)
    exact = [t for t in every if t.name == text]
    if len(exact) == 1:
        return exact[0]
    found = [t for t in every if matches(t, text, lab_prefix)]
    unique = list({id(t): t for t in found}.values())
    if len(unique) == 1:
        return unique[0]
    if unique:
        lines = "; ".join(how_to_name(t) for t in unique)
        raise InvalidInput(
            f"{text!r} names {len(unique)} containers/VMs: {lines}. Name one by its display name "
            "(first word), its id or pid:N",
            rule="target-ambiguous",
        )
    known = [t.name for t in every]
    hint = f" (known: {', '.join(known[:12])}{', …' if len(known) > 12 else ''})" if known else " (none found)"
    raise NotFound(f"no container or VM named {text!r}{hint}", rule="target")
