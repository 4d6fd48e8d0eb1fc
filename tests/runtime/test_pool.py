"""The pools every process connects through."""

from __future__ import annotations

import logging

import pytest

from runtime.postgres.pool import LZ4_TOAST, create_pool


async def test_the_session_settings_hold_on_every_connection_after_the_pool_resets_it(database_url: str) -> None:
    pool = await create_pool(database_url, max_size=1, server_settings=LZ4_TOAST)
    try:
        for _ in range(2):  # the second time, on the connection the pool reset when it came back
            async with pool.acquire() as connection:
                assert await connection.fetchval("SHOW default_toast_compression") == "lz4"
                await connection.execute("SET default_toast_compression = 'pglz'")
    finally:
        await pool.close()


async def test_a_setting_the_server_refuses_is_left_out_with_a_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """As a server built without lz4 refuses it (this one refuses a method no Postgres 15 has)."""
    caplog.set_level(logging.WARNING, logger="runtime.postgres.pool")
    pool = await create_pool(database_url, max_size=1, server_settings={"default_toast_compression": "zstd"})
    try:
        async with pool.acquire() as connection:
            assert await connection.fetchval("SHOW default_toast_compression") == "pglz"
    finally:
        await pool.close()
    assert "refused the session settings {'default_toast_compression': 'zstd'}" in caplog.text
