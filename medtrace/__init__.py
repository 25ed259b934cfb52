"""medtrace's composition root: what wires the libraries together into programs.

The layers read bottom-up ``ledger`` -> ``keys`` -> ``node`` -> ``scanner`` -> ``api`` ->
``medtrace`` (``bench`` beside ``api``): this package builds the Flask app of a node
(``medtrace.app``), runs it under a server (``medtrace.serve``), plays the demo
(``medtrace.demo``) and is the one ``medtrace`` command (``medtrace.cli``). Nothing below
imports it. See docs/architecture.md.
"""
