"""Fuzzing the node's API from its own OpenAPI document (schemathesis), in process: every
operation, valid and invalid inputs, with a token whose role may call it. No answer may be a
5xx, and every answer must conform to the document (status, media type, body schema).

Plus the hostile bodies a schema-driven generator rarely makes: oversized, deeply nested, huge
numbers, long strings, many keys."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import MAX_BODY_BYTES
from api.openapi import document
from api.routes import ROUTES
from medtrace.app import close_app, create_app
from node.config import load_config, save_config
from tests.api.conftest import PASSPHRASE, Node, init_node
from tests.api.test_server import create_token, free_port, start
from tests.fuzz.conftest import FUZZ_API, count
from tests.fuzz.test_parsers import epcis_documents

CHECKS: list[Callable[..., Any]] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
DOCUMENT = document(ROUTES, version="0", node="fuzz")
OPERATIONS = sorted(
    (method.upper(), path, op.get("x-roles") or [])
    for path, ops in DOCUMENT["paths"].items()
    for method, op in ops.items()
)
#: The role a generated request carries: one the operation admits (operator where it may).
PREFERRED = ("operator", "auditor", "verifier", "peer")


def role_for(roles: list[str]) -> str | None:
    return next((r for r in PREFERRED if r in roles), None)


@pytest.fixture(scope="module")
def fuzz_node(
    template_nodes: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Node]:
    """A manufacturer's node with stock to act on, and no rate limit in the way (one per
    module: the fuzzed writes pile up in it, as they would on a real node)."""
    data = tmp_path_factory.mktemp("fuzz") / "acme"
    shutil.copytree(template_nodes["acme"], data)
    config = replace(load_config(data), verify_rate_per_minute=10**9, harvest_max_unknown=0)
    save_config(data, config)
    app = create_app(data, passphrase=PASSPHRASE, start_replicator=False)
    node = Node(app, data)
    made = node.post(
        "/api/v1/commission",
        {"gtin": "04012345000016", "lot": "L1", "expiry": "2030-12-31", "count": 5},
    )
    assert made.status_code == 201
    yield node
    close_app(app)


@pytest.mark.parametrize(
    ("method", "path", "roles"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_within_its_document(
    fuzz_node: Node, method: str, path: str, roles: list[str], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_node.app)
    operation = schema[path][method]
    if mode is GenerationMode.NEGATIVE and not (
        operation.path_parameters or operation.query or operation.body
    ):
        pytest.skip("no parameter and no body: nothing to make invalid")
    role = role_for(roles)
    headers = {"Authorization": f"Bearer {fuzz_node.token(role)}"} if role else {}

    @FUZZ_API
    @given(operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        count(f"schemathesis {mode.value} (in process)")
        merged = {**(case.headers or {}), **headers}
        response = case.call(headers=merged)
        case.validate_response(response, checks=CHECKS, headers=merged)

    run()


# -- hostile bodies --------------------------------------------------------------------------------

BODY_ROUTES = sorted(
    {r.path for r in ROUTES if r.request is not None and "<" not in r.path} | {"/epcis/capture"}
)


def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


hostile = st.one_of(
    st.integers(1, 200_000).map(nested),
    st.integers(1, 100_000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 20_000).map(lambda n: "9" * n),
    st.integers(1, 20_000).map(lambda n: '{"subjects":[' + "1e999," * n + "1]}"),
    st.integers(1, 200_000).map(lambda n: json.dumps({"lot": "x" * n})),
    st.integers(1, 50_000).map(lambda n: json.dumps({f"k{i}": i for i in range(n)})),
    st.integers(0, 3).map(lambda n: '{"a":"\\ud800' + "\\u0000" * n + '"}'),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


def test_hostile_bodies_get_a_problem_not_a_crash(fuzz_node: Node) -> None:
    token = fuzz_node.auth("operator")

    @FUZZ_API
    @given(st.sampled_from(BODY_ROUTES), hostile)
    def run(path: str, body: str) -> None:
        count("hostile JSON bodies (in process)")
        answer = fuzz_node.client.post(
            path, data=body, headers={**token, "Content-Type": "application/json"}
        )
        assert answer.status_code < 500, answer.get_data(as_text=True)[:500]
        if answer.status_code >= 400:
            assert answer.headers["Content-Type"] == "application/problem+json"

    run()


def test_a_body_over_the_limit_is_413_before_it_is_read(fuzz_node: Node) -> None:
    count("hostile JSON bodies (in process)")
    answer = fuzz_node.client.post(
        "/api/v1/commission",
        data=b"[" * (MAX_BODY_BYTES + 1),
        headers={**fuzz_node.auth("operator"), "Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert answer.headers["Content-Type"] == "application/problem+json"


def test_a_real_node_process_answers_every_operation_within_its_document(
    consortium_dir: Path, tmp_path: Path
) -> None:
    """The same checks over real HTTP against `medtrace node run` (granian, two workers)."""
    data = init_node(consortium_dir, tmp_path / "acme", "acme/line-1", workers=2, threads=4)
    save_config(data, replace(load_config(data), verify_rate_per_minute=10**9))
    token = create_token(data, "operator", "fuzzer")
    running = start(data, free_port(), tmp_path)
    try:
        schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # an Err raises here: a broken document

            @settings(FUZZ_API, max_examples=4)
            @given(operation.as_strategy(generation_mode=GenerationMode.POSITIVE))
            def run(case: Any) -> None:
                count("schemathesis positive (real node over HTTP)")
                headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
                response = case.call(base_url=running.url, headers=headers, timeout=30)
                case.validate_response(response, checks=CHECKS, headers=headers)

            run()
    finally:
        running.stop(signal.SIGTERM)
    assert not [line for line in running.log_lines() if '"status": 5' in line]


def test_mutated_epcis_documents_are_captured_or_refused_never_crash(fuzz_node: Node) -> None:
    @FUZZ_API
    @given(epcis_documents())
    def run(doc: Any) -> None:
        count("EPCIS capture of mutated documents (in process)")
        answer = fuzz_node.client.post(
            "/epcis/capture", json=doc, headers=fuzz_node.auth("operator")
        )
        assert answer.status_code < 500, answer.get_data(as_text=True)[:500]

    run()
