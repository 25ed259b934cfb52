"""Serving a node: granian for plain HTTP and TLS, gunicorn on request (ADR 0013, 0015)."""
