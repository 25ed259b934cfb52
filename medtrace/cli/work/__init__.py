"""The commands of every role's everyday work against a node (issue 18): commission, aggregate,
unpack, ship, receive, return, recall, withdraw, dispense, destroy, report-stolen, export,
sample, lock, unlock, inspect, undo, pull and show. Each is one or two calls of the node's HTTP
API (docs/spec/api.md) with the node, token, CA and genesis of the profile
(``medtrace profile``) unless options say otherwise; docs/spec/cli.md lists them.

``registry.COMMANDS`` maps each name to a loader; ``medtrace.cli.main`` lists them lazily.
"""
