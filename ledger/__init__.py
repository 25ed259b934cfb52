"""medtrace's ledger core: signed per-site feeds, membership and the pack lifecycle.

Pure: no Flask, no SQL, no network. Storage and transport live in ``node``, ``api`` and
``scanner`` and speak to this package through plain values and the ``StateView`` protocol.
"""
