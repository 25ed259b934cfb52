"""Every error is an RFC 9457 problem: 4xx for bad input, never a 5xx or a stack trace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError, OperationalError

from api import MAX_BODY_BYTES
from api.problems import PROBLEM_JSON, TYPE_ROOT
from api.schemas import MAX_SUBJECTS
from tests.api.conftest import GTIN, Node, pack

COMMISSION = "/api/v1/commission"
SHIP = "/api/v1/actions/ship"
GOOD_COMMISSION = {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "count": 2}


def _raw(node: Node, path: str, data: bytes | str, content_type: str = "application/json") -> Any:
    headers = {**node.auth(), "Content-Type": content_type}
    return node.client.post(path, data=data, headers=headers)


def assert_problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json(force=True)
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == status
    assert body["type"].startswith(TYPE_ROOT)
    if slug is not None:
        assert body["type"] == TYPE_ROOT + slug
    text = response.get_data(as_text=True)
    assert "Traceback" not in text
    assert 'File "' not in text
    return dict(body)


# (name, path, raw body, content type, status, slug, JSON path of the problem or None)
MALFORMED: list[tuple[str, str, bytes | str, str, int, str, str | None]] = [
    ("not JSON", COMMISSION, b"gtin=1", "application/json", 400, "malformed-json", None),
    ("empty body", COMMISSION, b"", "application/json", 400, "malformed-json", None),
    ("truncated JSON", COMMISSION, b'{"gtin": "1', "application/json", 400, "malformed-json", None),
    ("not UTF-8", COMMISSION, b'{"gtin": "\xff"}', "application/json", 400, "malformed-json", None),
    ("NaN", COMMISSION, b'{"count": NaN}', "application/json", 400, "malformed-json", None),
    (
        "duplicate member",
        COMMISSION,
        b'{"gtin": "1", "gtin": "2"}',
        "application/json",
        400,
        "malformed-json",
        None,
    ),
    (
        "deep nesting",
        SHIP,
        "[" * 100_000 + "]" * 100_000,
        "application/json",
        400,
        "malformed-json",
        None,
    ),
    (
        "form body",
        COMMISSION,
        b"gtin=1",
        "application/x-www-form-urlencoded",
        415,
        "unsupported-media-type",
        None,
    ),
    ("no content type", COMMISSION, b"{}", "", 415, "unsupported-media-type", None),
    ("array body", COMMISSION, b"[]", "application/json", 400, "invalid-request", "$"),
    (
        "missing gtin",
        COMMISSION,
        json.dumps({"lot": "L1", "expiry": "2030-12-31", "count": 1}),
        "application/json",
        400,
        "invalid-request",
        "$.gtin",
    ),
    (
        "gtin not a string",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "gtin": 4012345000016}),
        "application/json",
        400,
        "invalid-request",
        "$.gtin",
    ),
    (
        "bad GTIN check digit",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "gtin": "04012345000017"}),
        "application/json",
        400,
        "invalid-request",
        "$.gtin",
    ),
    (
        "GTIN with letters",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "gtin": "0401234500001A"}),
        "application/json",
        400,
        "invalid-request",
        "$.gtin",
    ),
    (
        "bad date",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "expiry": "2030-02-30"}),
        "application/json",
        400,
        "invalid-request",
        "$.expiry",
    ),
    (
        "date in another format",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "expiry": "31.12.2030"}),
        "application/json",
        400,
        "invalid-request",
        "$.expiry",
    ),
    (
        "count and serials",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "serials": ["A"]}),
        "application/json",
        400,
        "invalid-request",
        "$",
    ),
    (
        "neither count nor serials",
        COMMISSION,
        json.dumps({"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31"}),
        "application/json",
        400,
        "invalid-request",
        "$",
    ),
    (
        "count is a boolean",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "count": True}),
        "application/json",
        400,
        "invalid-request",
        "$.count",
    ),
    (
        "count zero",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "count": 0}),
        "application/json",
        400,
        "invalid-request",
        "$.count",
    ),
    (
        "count too large",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "count": 10**9}),
        "application/json",
        400,
        "invalid-request",
        "$.count",
    ),
    (
        "serial not in CSET 82",
        COMMISSION,
        json.dumps(
            {"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "serials": ["OK1", "bad serial"]}
        ),
        "application/json",
        400,
        "invalid-request",
        "$.serials[1]",
    ),
    (
        "serial listed twice",
        COMMISSION,
        json.dumps({"gtin": GTIN, "lot": "L1", "expiry": "2030-12-31", "serials": ["A", "A"]}),
        "application/json",
        400,
        "invalid-request",
        "$.serials",
    ),
    (
        "unknown member",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "colour": "red"}),
        "application/json",
        400,
        "invalid-request",
        "$.colour",
    ),
    (
        "reserved body member",
        COMMISSION,
        json.dumps({**GOOD_COMMISSION, "body": {"serials": ["X"]}}),
        "application/json",
        400,
        "invalid-request",
        "$.body.serials",
    ),
    (
        "subjects not a list",
        SHIP,
        json.dumps({"subjects": pack("A"), "body": {"destination": "dist"}}),
        "application/json",
        400,
        "invalid-request",
        "$.subjects",
    ),
    (
        "subject not a URI",
        SHIP,
        json.dumps({"subjects": ["A1"], "body": {"destination": "dist"}}),
        "application/json",
        400,
        "invalid-request",
        "$.subjects[0]",
    ),
    (
        "non-canonical subject",
        SHIP,
        json.dumps(
            {
                "subjects": ["https://id.gs1.org/01/4012345000016/21/A"],
                "body": {"destination": "dist"},
            }
        ),
        "application/json",
        400,
        "invalid-request",
        "$.subjects[0]",
    ),
    (
        "no subjects",
        SHIP,
        json.dumps({"subjects": [], "body": {"destination": "dist"}}),
        "application/json",
        400,
        "invalid-request",
        "$.subjects",
    ),
    (
        "too many subjects",
        SHIP,
        json.dumps({"subjects": ["x"] * (MAX_SUBJECTS + 1), "body": {"destination": "dist"}}),
        "application/json",
        400,
        "invalid-request",
        "$.subjects",
    ),
    (
        "ship without destination",
        SHIP,
        json.dumps({"subjects": [pack("A")]}),
        "application/json",
        400,
        "invalid-request",
        "$.body",
    ),
    (
        "destination not an id",
        SHIP,
        json.dumps({"subjects": [pack("A")], "body": {"destination": "Dist Co"}}),
        "application/json",
        400,
        "invalid-request",
        "$.body.destination",
    ),
    (
        "float in body",
        SHIP,
        json.dumps({"subjects": [pack("A")], "body": {"destination": "dist", "temp": 4.5}}),
        "application/json",
        400,
        "invalid-request",
        "$.body.temp",
    ),
    (
        "huge integer in body",
        SHIP,
        json.dumps({"subjects": [pack("A")], "body": {"destination": "dist", "n": 2**60}}),
        "application/json",
        400,
        "invalid-request",
        "$.body.n",
    ),
    (
        "lone surrogate",
        SHIP,
        '{"subjects": ["' + pack("A") + '"], "body": {"destination": "dist", "note": "\\ud800"}}',
        "application/json",
        400,
        "invalid-request",
        "$.body.note",
    ),
    (
        "ref not an id",
        SHIP,
        json.dumps({"subjects": [pack("A")], "refs": ["abc"], "body": {"destination": "dist"}}),
        "application/json",
        400,
        "invalid-request",
        "$.refs[0]",
    ),
    (
        "body not an object",
        SHIP,
        json.dumps({"subjects": [pack("A")], "body": ["dist"]}),
        "application/json",
        400,
        "invalid-request",
        "$.body",
    ),
    (
        "unknown kind",
        "/api/v1/actions/teleport",
        json.dumps({"subjects": [pack("A")]}),
        "application/json",
        404,
        "not-found",
        None,
    ),
    (
        "commission as an action",
        "/api/v1/actions/commission",
        json.dumps({"subjects": [pack("A")]}),
        "application/json",
        404,
        "not-found",
        None,
    ),
]


@pytest.mark.parametrize(
    ("path", "data", "content_type", "status", "slug", "where"),
    [pytest.param(*case[1:], id=case[0]) for case in MALFORMED],
)
def test_a_malformed_body_gets_a_4xx_problem_naming_where(
    acme: Node,
    path: str,
    data: bytes | str,
    content_type: str,
    status: int,
    slug: str,
    where: str | None,
) -> None:
    problem = assert_problem(_raw(acme, path, data, content_type), status, slug)
    if where is not None:
        assert problem["path"] == where
        assert problem["detail"].startswith(where)
    assert acme.ctx.store.count("entries") == 0


def test_a_body_over_the_limit_is_413(acme: Node) -> None:
    data = b'{"subjects": ["' + b"x" * (MAX_BODY_BYTES + 10) + b'"]}'
    assert_problem(_raw(acme, SHIP, data), 413, "body-too-large")


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [
        ("/api/v1/packs/04012345000017/A1", 400, "gtin"),
        ("/api/v1/packs/04012345000016/bad%20serial", 400, "serial"),
        ("/api/v1/packs/04012345000016/" + "S" * 21, 400, "serial"),
        ("/api/v1/containers/123", 400, "sscc"),
        ("/api/v1/alerts?code=nonsense", 400, "code"),
        ("/api/v1/alerts?limit=0", 400, "limit"),
        ("/api/v1/feeds/acme/line-1/entries?from=-1", 400, "from"),
        ("/api/v1/feeds/acme/line-1/entries?from=" + "9" * 40, 400, "from"),
        ("/api/v1/feeds/acme/line-1/entries?limit=1001", 400, "limit"),
        ("/api/v1/feeds/acme/line-1/entries?limit=ten", 400, "limit"),
        ("/api/v1/feeds/ACME/line-1/entries", 400, "org"),
    ],
)
def test_a_bad_parameter_gets_a_400_naming_it(
    acme: Node, path: str, status: int, parameter: str
) -> None:
    problem = assert_problem(acme.get(path), status, "invalid-request")
    assert problem["parameter"] == parameter


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        (
            "/api/v1/packs/04012345000017/A1",
            None,
            "GTIN 04012345000017 is not valid: expected check digit 6, found 7",
        ),
        (
            "/api/v1/containers/376130321109103421",
            None,
            "SSCC 376130321109103421 is not valid: expected check digit 0, found 1",
        ),
        (
            COMMISSION,
            {**GOOD_COMMISSION, "gtin": "04012345000017"},
            "$.gtin: GTIN 04012345000017 is not valid: expected check digit 6, found 7",
        ),
        (
            SHIP,
            {
                "subjects": ["https://id.gs1.org/00/376130321109103421"],
                "body": {"destination": "apo"},
            },
            "SSCC 376130321109103421 is not valid: expected check digit 0, found 1",
        ),
    ],
    ids=["pack-path", "container-path", "commission-body", "ship-subject"],
)
def test_wrong_check_digit_refused(
    acme: Node, path: str, body: dict[str, Any] | None, says: str
) -> None:
    """Issue 18: the 400 names the identifier, the check digit expected and the one found."""
    response = acme.get(path) if body is None else _raw(acme, path, json.dumps(body))
    assert says in assert_problem(response, 400, "invalid-request")["detail"]


def test_unknown_route_and_wrong_method_are_problems(acme: Node) -> None:
    assert_problem(acme.client.get("/nope"), 404, "not-found")
    response = acme.client.get(COMMISSION, headers=acme.auth())
    problem = assert_problem(response, 405, "method-not-allowed")
    assert "POST" in response.headers["Allow"]
    assert problem["status"] == 405


def test_an_unexpected_failure_is_a_bare_500_and_is_logged(
    acme: Node, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(acme.ctx.store, "alerts", explode)
    problem = assert_problem(acme.get("/api/v1/alerts"), 500, "internal")
    assert "secret internals" not in json.dumps(problem)
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    failure = [line for line in logged if line["event"] == "unhandled exception"]
    assert failure
    assert failure[0]["exc_type"] == "RuntimeError"


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("SELECT", {}, Exception("database is locked")),
        IntegrityError("INSERT", {}, Exception("duplicate key (feed, seq)")),
    ],
    ids=["busy", "concurrent write"],
)
def test_a_busy_database_is_503_with_retry_after(
    acme: Node, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def busy(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(acme.ctx.store, "alerts", busy)
    response = acme.get("/api/v1/alerts")
    assert_problem(response, 503, "unavailable")
    assert response.headers["Retry-After"] == "1"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    [
        "gtin",
        "lot",
        "expiry",
        "count",
        "serials",
        "chunk",
        "subjects",
        "refs",
        "body",
        "destination",
    ]
)
BODIES = st.one_of(
    JSON,
    st.dictionaries(FIELDS, JSON, max_size=5),
    st.fixed_dictionaries(
        {"subjects": st.lists(st.sampled_from([pack("A"), pack("B"), "x", ""]), max_size=3)},
        optional={"refs": st.lists(st.text(max_size=64), max_size=2), "body": JSON},
    ),
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(
        [
            COMMISSION,
            SHIP,
            "/api/v1/actions/pack",
            "/api/v1/actions/undo",
            "/api/v1/replication/hint",
        ]
    ),
    body=BODIES,
)
def test_no_body_makes_a_5xx(acme: Node, path: str, body: Any) -> None:
    response = _raw(acme, path, json.dumps(body))
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert_problem(response, response.status_code)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_no_byte_string_makes_a_5xx(acme: Node, data: bytes) -> None:
    response = _raw(acme, SHIP, data)
    assert 400 <= response.status_code < 500
