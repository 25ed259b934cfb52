"""A network of nodes on one machine (in-process or as processes), for the demo and the soak."""
