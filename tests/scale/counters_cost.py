"""What the shared counters cost per guarded request (ADR 0021): 5,000 takes after 200 warm-up,
timed one by one, on SQLite (``node.counters.db``) and on a throw-away PostgreSQL on loopback
(``tests/node/postgres.py``), beside the in-process bucket and a ``SELECT 1``.

    .venv/bin/python -m tests.scale.counters_cost
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable

from sqlalchemy import create_engine

from api.ratelimit import RateLimiter
from node.store.counters import Counters
from tests.node.postgres import postgres_server

BIG = 10**9


def measure(label: str, call: Callable[[], object], n: int = 5000) -> None:
    for _ in range(200):
        call()
    times = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    p50, p95, p99 = (times[int(n * q)] * 1e6 for q in (0.5, 0.95, 0.99))
    print(f"{label:44s} p50 {p50:7.1f} µs  p95 {p95:7.1f}  p99 {p99:7.1f}")


def take(counters: Counters) -> Callable[[], object]:
    return lambda: counters.take("token:1", "query", per_minute=BIG, burst=BIG, now=time.time())


def main() -> None:
    memory = RateLimiter(BIG)
    measure("in-process RateLimiter.take", lambda: memory.take("token:1"))
    with tempfile.TemporaryDirectory() as directory:
        counters = Counters(f"sqlite:///{directory}/node.db")
        measure("SQLite Counters.take", take(counters))
        counters.close()
    with postgres_server() as url:
        counters = Counters(url)
        measure("PostgreSQL Counters.take (loopback)", take(counters))
        counters.close()
        engine = create_engine(url, isolation_level="AUTOCOMMIT")

        def select_one() -> object:
            with engine.connect() as conn:
                return conn.exec_driver_sql("SELECT 1").scalar()

        measure("PostgreSQL SELECT 1 (SQLAlchemy)", select_one)
        engine.dispose()


if __name__ == "__main__":
    main()
