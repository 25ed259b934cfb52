"""The end-to-end demo (``medtrace demo``)."""

from node.demo.command import demo_command

__all__ = ["demo_command"]
