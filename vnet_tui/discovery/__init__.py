"""Discovery: which namespaces are containers, which processes are VMs (no Textual)."""
