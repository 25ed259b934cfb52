"""The node's web pages: ``/scan`` for pharmacists and customs officers, ``/alerts`` for
regulators, ``/network`` for operators and regulators (every peer, its lag and the digest
agreement), ``/customs`` for the customs officer (declarations, whole consignments, decisions),
``/risk`` for regulators (selections and outcomes per week, a chart),
and ``/docs``, the API's interactive reference (docs/spec/web.md).

The pages are plain HTML from ``api/templates`` with small hand-written CSS and JavaScript from
``api/static``: nothing from elsewhere, no framework, no inline script or style. They hold no
data themselves: the script in the browser asks the JSON API (``POST /api/v1/scan``,
``GET /api/v1/alerts``) with the bearer token the user typed, which stays in the tab's
``sessionStorage``. So the pages need no token to load, and show nothing without one.

Every response of this blueprint carries a strict Content-Security-Policy (``'self'`` only, no
inline script, no framing), ``Referrer-Policy: no-referrer`` and ``X-Content-Type-Options``.
``/docs`` is Swagger UI over ``/openapi.json``: its files come from the ``flask-swagger-ui``
package (ADR 0002) and are served here, under ``/docs/ui/``, with the same policy; its
start-up script is ``static/docs.js``, not inline.
The pages and the static files are not API operations: they are left out of the OpenAPI
document, and ``UNDOCUMENTED_RULES`` names them for the test that compares the document with
the application's routes.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, render_template, send_from_directory
from werkzeug.wrappers import Response as WerkzeugResponse

from api.context import node_context
from ledger.alerts import LEVEL, Code

STATIC_URL = "/static"
#: The Flask rules of this blueprint: web pages and files, not in the OpenAPI document.
UNDOCUMENTED_RULES = frozenset(
    {
        "/",
        "/scan",
        "/alerts",
        "/network",
        "/customs",
        "/risk",
        "/docs",
        "/docs/ui/<path:filename>",
        f"{STATIC_URL}/<path:filename>",
    }
)
#: Swagger UI's files, as the ``flask-swagger-ui`` package ships them (its ``dist``).
SWAGGER_UI_DIR = Path(str(files("flask_swagger_ui") / "dist"))
#: The files of it ``/docs`` uses; nothing else of the package is served.
SWAGGER_UI_FILES = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "LICENSE", "VERSION"})

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


def _security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    else:  # static files: revalidate (ETag) so a new version of the node is picked up at once
        response.headers.setdefault("Cache-Control", "no-cache")
    return response


def home() -> WerkzeugResponse:
    """A person who opens the node's address lands on the scan page."""
    return redirect("/scan", code=302)


def scan_page() -> str:
    ctx = node_context()
    return render_template("scan.html", page="scan", node=ctx.name, feed=ctx.feed)


def _code_label(code: Code) -> str:
    return code.value.replace("_", " ").capitalize()


def alerts_page() -> str:
    ctx = node_context()
    codes = [(c.value, _code_label(c), LEVEL[c].value) for c in Code]
    return render_template("alerts.html", page="alerts", node=ctx.name, feed=ctx.feed, codes=codes)


def network_page() -> str:
    ctx = node_context()
    return render_template("network.html", page="network", node=ctx.name, feed=ctx.feed)


def customs_page() -> str:
    ctx = node_context()
    return render_template("customs.html", page="customs", node=ctx.name, feed=ctx.feed)


def risk_page() -> str:
    ctx = node_context()
    return render_template("risk.html", page="risk", node=ctx.name, feed=ctx.feed)


def docs_page() -> str:
    ctx = node_context()
    version = (SWAGGER_UI_DIR / "VERSION").read_text(encoding="utf-8").strip()
    return render_template(
        "docs.html", page="docs", node=ctx.name, feed=ctx.feed, swagger_version=version
    )


def swagger_ui_file(filename: str) -> Response:
    if filename not in SWAGGER_UI_FILES:
        abort(404)
    response = send_from_directory(SWAGGER_UI_DIR, filename)
    if filename in ("LICENSE", "VERSION"):
        response.mimetype = "text/plain"
    return response


def blueprint() -> Blueprint:
    bp = Blueprint(
        "web",
        __name__,
        template_folder="templates",
        static_folder="static",
        static_url_path=STATIC_URL,
    )
    bp.add_url_rule("/", "home", home, methods=["GET"], provide_automatic_options=False)
    pages = (
        ("/scan", scan_page),
        ("/alerts", alerts_page),
        ("/network", network_page),
        ("/customs", customs_page),
        ("/risk", risk_page),
        ("/docs", docs_page),
        ("/docs/ui/<path:filename>", swagger_ui_file),
    )
    for rule, view in pages:
        bp.add_url_rule(rule, view.__name__, view, methods=["GET"], provide_automatic_options=False)
    bp.after_request(_security_headers)
    return bp
