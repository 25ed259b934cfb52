"""Where a scanner gets a pack's provenance: a node online, or data on this machine."""
