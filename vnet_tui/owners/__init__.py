"""Who owns each container and VM: docker, podman, lxc, nspawn, libvirt — and how to ask them.

Each runtime module has ``scan(procs) -> list[Owned]``: what its owner
says exists (names, ids, states, images) and which processes are inside
each one.  ``registry.scan_all`` runs them all; discovery matches the
records to the namespaces and QEMU processes it found from the kernel.
An owner is asked, never bypassed: its API socket or its status files,
never another manager's private control channel (libvirt's QMP monitor).
"""
