"""Real container and VM runtimes for the owner tests, each started inside a namespace of its own.

One module per runtime (docker.py, podman.py, lxc.py, nspawn.py,
libvirt.py).  Every daemon runs inside a network namespace the test made
(``vt-…``), with private state directories; nothing starts in the root
namespace, no firewall rule is left there, and everything is stopped and
removed even when a test fails.  A runtime that cannot run on this
machine is reported as NOT TESTED (a skip with that reason), never as
passed.
"""
