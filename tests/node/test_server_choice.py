"""Which HTTP server runs a node (ADR 0013, 0015): granian, TLS or not; gunicorn on request."""

from __future__ import annotations

import pytest

from medtrace.serve.settings import ServerKind, server_for
from node.config import ConfigError, NodeConfig

PLAIN = NodeConfig(name="acme", feed="acme/line-1", genesis_id="g" * 64)
TLS = NodeConfig(name="acme", feed="acme/line-1", genesis_id="g" * 64, tls=True)


@pytest.mark.parametrize(
    ("config", "configured", "requested", "expected"),
    [
        pytest.param(PLAIN, "auto", None, ServerKind.GRANIAN, id="plain-http-auto-is-granian"),
        pytest.param(TLS, "auto", None, ServerKind.GRANIAN, id="tls-auto-is-granian"),
        pytest.param(PLAIN, "gunicorn", None, ServerKind.GUNICORN, id="configured-gunicorn"),
        pytest.param(PLAIN, "auto", "gunicorn", ServerKind.GUNICORN, id="requested-gunicorn"),
        pytest.param(PLAIN, "gunicorn", "granian", ServerKind.GRANIAN, id="request-beats-config"),
        pytest.param(TLS, "gunicorn", None, ServerKind.GUNICORN, id="tls-configured-gunicorn"),
        pytest.param(TLS, "auto", "granian", ServerKind.GRANIAN, id="tls-requested-granian"),
    ],
)
def test_the_server_of_a_node(
    config: NodeConfig, configured: str, requested: str | None, expected: ServerKind
) -> None:
    config = NodeConfig(**{**config.to_json(), "peers": (), "server": configured})
    assert server_for(config, requested) is expected


@pytest.mark.parametrize(
    ("config", "requested", "message"),
    [
        pytest.param(
            PLAIN,
            "uwsgi",
            "server: expected one of ['auto', 'granian', 'gunicorn'], found 'uwsgi'",
            id="unknown-server",
        ),
    ],
)
def test_a_server_that_cannot_run_the_node_is_refused(
    config: NodeConfig, requested: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        server_for(config, requested)
