"""Replication: pulling feeds from peers (``pull``), the loop that runs it (``loop``), where that
loop runs in a multi-worker node (``host``), the HTTP peer client (``http_peer``), the protocol
both ends share (``protocol``), and bundle files for posts with no link: their format and
reading (``bundle_format``), export and import (``bundles``).
"""
