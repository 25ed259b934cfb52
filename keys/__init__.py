"""medtrace keys."""
