"""Structured logs: one JSON object per line on stderr.

Every line has ``ts``, ``level``, ``node`` and ``event``; a request line adds ``method``,
``path``, ``status``, ``duration_ms`` and ``user`` (the token's user name). What is never
logged: bearer tokens, the passphrase, key material, request or response bodies. Callers pass
only the fields above; ``event`` is the only free text, and exceptions are logged by type and
traceback (our own code's lines), never with request data attached.

gunicorn's own messages go through the same formatter (``GunicornJsonLogger``), so everything
a node writes to stderr parses as JSON.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

LOGGER = "medtrace.node"
#: Fields a caller may attach to a record (``extra={"fields": {...}}``).
FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "user",
    "role",
    "feed",
    "peers",
    "entries",
    "added",
    "rejected",
    "error",
    "pid",
    "owner",
    "detail",
)
_MAX_FIELD = 400


class JsonFormatter(logging.Formatter):
    def __init__(self, node: str = "") -> None:
        super().__init__()
        self.node = node
        self._second = (-1, "")  # the last second formatted: a request line is written per request

    def _ts(self, created: float) -> str:
        """``format_ts(datetime.fromtimestamp(created, UTC))``, which rounds to the microsecond
        first, without building a datetime for every line."""
        second = int(created)
        micros = round((created - second) * 1e6)
        if micros >= 1_000_000:
            second, micros = second + 1, micros - 1_000_000
        last, text = self._second
        if second != last:
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{micros // 1000:03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self._ts(record.created),
            "level": record.levelname.lower(),
            "node": getattr(record, "node", None) or self.node,
            "event": _clip(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            for key in FIELDS:
                if key in fields and fields[key] is not None:
                    value = fields[key]
                    line[key] = value if isinstance(value, int | float | bool) else _clip(value)
        if record.name != LOGGER:
            line["source"] = record.name
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
            line["exc"] = "".join(traceback.format_exception(*record.exc_info))[-4000:]
        return json.dumps(line, ensure_ascii=False, sort_keys=False, default=str)


def _clip(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_FIELD else text[:_MAX_FIELD] + "…"


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


_handler: StderrHandler | None = None


def json_handler() -> logging.Handler:
    global _handler  # noqa: PLW0603 (one handler per process, shared by every logger we own)
    if _handler is None:
        _handler = StderrHandler()
        _handler.setFormatter(JsonFormatter())
    return _handler


class NodeLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger that stamps the node's name on every record."""

    def __init__(self, node: str) -> None:
        logger = logging.getLogger(LOGGER)
        handler = json_handler()
        if handler not in logger.handlers:
            logger.addHandler(handler)
        if isinstance(handler.formatter, JsonFormatter):
            # Records of child loggers (medtrace.node.replication …) carry no node name: a
            # process serves one node, so they get this one.
            handler.formatter.node = node
        logger.setLevel(logging.INFO)
        logger.propagate = False
        super().__init__(logger, {"node": node})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(kwargs.get("extra") or {})
        extra["node"] = self.extra["node"] if self.extra else ""
        kwargs["extra"] = extra
        return msg, kwargs

    def event(self, name: str, *, level: int = logging.INFO, **fields: Any) -> None:
        # The record is made here rather than by ``Logger.log``, which walks the stack for the
        # caller's file and line: no line shows them, and a request line is logged per request.
        logger = self.logger
        if logger.isEnabledFor(level):
            node = self.extra["node"] if self.extra else ""
            extra = {"fields": fields, "node": node}
            logger.handle(logger.makeRecord(logger.name, level, "", 0, name, (), None, extra=extra))


def stderr_json_handler(node: str = "") -> logging.Handler:
    """A handler of JSON lines on stderr for a server's own loggers (granian's, gunicorn's)."""
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter(node))
    return handler


def node_logger(node: str) -> NodeLogger:
    return NodeLogger(node)


def gunicorn_logger_class(node: str) -> type[Any]:
    """A gunicorn logger class whose error log writes our JSON lines (access log off)."""
    from gunicorn.glogging import Logger  # type: ignore[import-untyped]  # noqa: PLC0415 (only the server needs it)

    class GunicornJsonLogger(Logger):  # type: ignore[misc]
        def setup(self, cfg: Any) -> None:
            super().setup(cfg)
            for log in (self.error_log, self.access_log):
                for handler in list(log.handlers):
                    log.removeHandler(handler)
                log.addHandler(stderr_json_handler(node))
                log.propagate = False

    return GunicornJsonLogger
