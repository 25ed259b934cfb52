"""medtrace api."""
