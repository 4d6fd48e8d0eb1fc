"""The `pgserver` wheel's bundled binaries start a working cluster: what a laptop without root and
without a PostgreSQL package falls back to. (Debian's package, what `./dev` installs as root, is
what every other integration test runs on.)"""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from syncpipe.embedded.postgres import EmbeddedPostgres, _pgserver_bindir, postgres_bindir


async def server_version(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        version: str = await connection.fetchval("SHOW server_version")
        return version
    finally:
        await connection.close()


async def test_the_pgserver_wheel_runs_a_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = _pgserver_bindir()
    assert bindir is not None, "pgserver is a dependency of syncpipe: it must be importable"
    monkeypatch.setenv("SYNCPIPE_PG_BINDIR", bindir)
    assert postgres_bindir() == Path(bindir)
    with EmbeddedPostgres(durable=False) as postgres:
        assert (await server_version(postgres.dsn)).split(".")[0].isdigit()
