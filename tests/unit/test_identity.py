"""Display names are unique; a target that names two containers/VMs is refused, never guessed."""

from dataclasses import dataclass

import pytest

from vnet_tui.core.errors import InvalidInput, NotFound
from vnet_tui.core.model import VM, Container, NetnsRef, Owner
from vnet_tui.owners import identity


@dataclass
class N:
    runtime: str
    owner_name: str
    key: str


def test_unique_names_stay_as_the_owner_says():
    names = identity.displays([N("docker", "web", "docker:a"), N("lxc", "db", "lxc:b")])
    assert names == {"docker:a": "web", "lxc:b": "db"}


def test_same_name_in_two_runtimes_gets_the_runtime():
    names = identity.displays([N("docker", "web", "docker:a"), N("podman", "web", "podman:b")])
    assert names == {"docker:a": "web@docker", "podman:b": "web@podman"}


def test_same_name_in_one_runtime_is_numbered_by_stable_key():
    items = [N("process", "sleep", "process:pid:30"), N("process", "sleep", "process:pid:200")]
    assert identity.displays(items) == {"process:pid:200": "sleep#1", "process:pid:30": "sleep#2"}
    assert identity.displays(list(reversed(items))) == identity.displays(items)


def test_mixed_collision_and_a_name_that_looks_like_a_display():
    items = [N("docker", "web", "docker:a"), N("docker", "web", "docker:b"), N("podman", "web", "podman:c"),
             N("lxc", "web@podman", "lxc:d")]
    names = identity.displays(items)
    assert len(set(names.values())) == 4
    assert names["docker:a"] == "web@docker#1" and names["docker:b"] == "web@docker#2"
    assert names["lxc:d"] == "web@podman" and names["podman:c"] == "web@podman_"


def ct(display, runtime, oid, oname, nsname=None, pids=(), state=None):
    return Container(display, runtime, NetnsRef(nsname, 4026530000 + len(oid), list(pids)), [],
                     Owner(runtime, oid, oname, state=state))


def targets():
    return [
        ct("sleep#1", "nspawn", "m1", "sleep", pids=[101]),
        ct("sleep#2", "nspawn", "m2", "sleep", pids=[202]),
        ct("web", "docker", "3f2a" + "0" * 60, "web", nsname=None, pids=[303], state="running"),
        ct("ct101", "netns", "vl-x-ct101", "ct101", nsname="vl-x-ct101", pids=[404]),
        VM("vm1", 505, True, None, [], owner=Owner("libvirt", "6c1e-uuid", "vm1", state="running"),
           runtime="libvirt"),
    ]


@pytest.mark.parametrize("text,display", [
    ("sleep#2", "sleep#2"), ("pid:101", "sleep#1"), ("web", "web"), ("3f2a00", "web"),
    ("3f2a" + "0" * 60, "web"), ("vl-x-ct101", "ct101"), ("ct101", "ct101"), ("pid:505", "vm1"),
    ("6c1e-uuid", "vm1"), ("6c1e", "vm1"),
])
def test_a_target_may_be_a_display_id_prefix_netns_or_pid(text, display):
    assert identity.resolve(targets(), text, "vl-x-").name == display


def test_an_ambiguous_target_is_refused_with_every_candidate():
    with pytest.raises(InvalidInput) as e:
        identity.resolve(targets(), "sleep")
    assert e.value.rule == "target-ambiguous" and e.value.code == 2
    msg = str(e.value)
    assert "sleep#1" in msg and "sleep#2" in msg and "pid:101" in msg and "pid:202" in msg


def test_a_short_id_prefix_is_not_a_target():
    with pytest.raises(NotFound):
        identity.resolve(targets(), "3f2")


def test_no_such_target():
    with pytest.raises(NotFound) as e:
        identity.resolve(targets(), "nope")
    assert e.value.rule == "target" and "sleep#1" in str(e.value)
