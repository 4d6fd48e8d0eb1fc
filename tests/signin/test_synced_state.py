"""The synced state's reads when Postgres does not answer: a refusal a person understands, not a 500."""

from __future__ import annotations

import asyncpg
import pytest

from signin.exceptions import SignInRefused
from signin.refusals import PAGES, Refusal
from signin.synced_state import SyncedState
from syncpipe.embedded.process import free_port


async def test_a_database_that_does_not_answer_refuses_the_sign_in_as_briefly_unavailable() -> None:
    # min_size=0: the pool connects at the first read, to a port where nothing listens.
    pool = await asyncpg.create_pool(f"postgresql://syncpipe@127.0.0.1:{free_port()}/syncpipe", min_size=0)
    try:
        state = SyncedState(pool)
        reads = (
            lambda: state.tenant("t-1"),
            lambda: state.tenant_and_application("t-1", "app-1"),
            lambda: state.tenant_and_user("t-1", "alice", "app-1"),
        )
        for read in reads:
            with pytest.raises(SignInRefused) as refused:
                await read()
            assert refused.value.refusal is Refusal.DATABASE_UNAVAILABLE
        assert PAGES[Refusal.DATABASE_UNAVAILABLE].status == 503
    finally:
        await pool.close()
