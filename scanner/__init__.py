"""medtrace scanner."""
