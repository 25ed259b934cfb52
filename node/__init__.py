"""medtrace node."""
