"""vnet-tui: a server's virtual network — containers' veth and VMs' vme adapters — seen and managed from a terminal."""

__version__ = "0.1.0"
