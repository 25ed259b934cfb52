"""medtrace bench."""
