"""Adapter policy, on the host end of an adapter, with the kernel's own mechanisms.

A library: the CLI (``adapter set --cable/--rate-in/--rate-out/--mac-filter/
--ip-filter/--isolated/--vlan/--trunk``), ``show --json`` and the TUI wire it in.

- ``probe``: which mechanisms this kernel has; ``require`` refuses with
  ``kernel-lacks-<feature>``.
- ``validate``: input rules (rates, bursts, MACs, address lists, VLAN ids).
- ``read``: a port's policy as the kernel has it, whoever set it.
- ``cable``, ``rate``, ``spoof``, ``isolate``, ``vlan``: one setting each, as
  ``steps.Step`` lists (command text, action, inverse); ``plan`` combines them.
- ``remove``: the steps that take an adapter's chains with it (the kernel keeps netdev
  chains bound to a device name after the device is gone), ``orphans``, and ``renamed``
  (a rename unhooks name-bound chains: the steps that carry them to the new name).
- ``port.Port``: a host end (namespace + ifname) opened for all of that.

Directions are the guest's: ``rate_out`` limits what the guest sends
(host end ingress), ``rate_in`` what it receives (host end egress).
"""
