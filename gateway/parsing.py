"""Where a call's CPU-bound part (gateway.preparation) runs: on the event loop for a small body, in a
process of its own for a large one, so that one large call never stalls the small ones.

A thread would not do: the JSON decoder, the canonical form's encoder and pydantic's validation hold
the GIL for their whole run (measured: a thread parsing a 31 MiB body held the event loop up to
0.6 s at a time), so a 32 MiB body would stall every other call as surely as parsing it inline. A
process has a GIL, and a memory, of its own: the ~20 times its body a large parse takes is
returned to the system with the process, if it ever dies of it, and the gateway lives on.

Processes are started (spawned, not forked: the gateway runs threads and an event loop) when the
gateway starts. A body goes over a pipe, the records of its event come back. A process that dies
(the kernel's OOM killer on an outsize body) fails the calls it held with NotStored (000005, safe to
retry) and the pool is started afresh.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType

from gateway.client_secret import ClientSecretChecker
from gateway.errors import NotStored
from gateway.preparation import Preparation, PreparedCall, prepare_call
from gateway.verification import SignatureHeaders
from runtime.key_files import load_rsa_private_key
from runtime.processes import die_with_parent, tune_garbage_collector
from runtime.settings import Settings
from schemas.calls import Interface

log = logging.getLogger(__name__)

# Bodies from this size on are parsed in a process. Parsing takes ~80 ms per MiB here, so a body just
# below it stalls the loop ~5 ms, about what sending it to a process and back costs.
LARGE_BODY_BYTES = 64 * 1024

# What a parsing process prepares calls with, set once by its initializer.
_preparation: Preparation | None = None


def _start_parsing_process(
    gateway_pid: int, access_keys: tuple[str, ...], private_key: Path | None, max_record_bytes: int
) -> None:
    global _preparation  # noqa: PLW0603 - the process's one state, set once before its first task
    # A gateway that is killed cannot stop its pool: without this its processes would live on, orphaned.
    die_with_parent(gateway_pid)
    tune_garbage_collector()  # a large body allocates ~1M objects that live until it is encoded
    checker = ClientSecretChecker(load_rsa_private_key(private_key) if private_key is not None else None)
    _preparation = Preparation(access_keys, checker, max_record_bytes)


def _prepare_in_process(interface: Interface, raw: bytes, headers: SignatureHeaders) -> PreparedCall:
    assert _preparation is not None, "the process was started without its initializer"
    return prepare_call(_preparation, interface, raw, headers)


def _ready() -> bool:
    return True


class CallParser:
    """`await parser.prepare(...)`: `prepare_call` on the loop for small bodies, in `processes`
    processes for large ones (0: always on the loop). `async with` starts and stops the processes."""

    def __init__(self, preparation: Preparation, settings: Settings, processes: int) -> None:
        self._preparation = preparation
        self._processes = processes
        self._arguments = (os.getpid(), preparation.access_keys, settings.app_private_key, preparation.max_record_bytes)
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def on_the_loop(cls, preparation: Preparation, settings: Settings) -> CallParser:
        """One that parses every body on the event loop (tests, benchmarks of the loop's own work)."""
        return cls(preparation, settings, processes=0)

    async def start(self) -> None:
        """Start the processes and wait until each has imported what it runs (not at the first large call)."""
        if self._processes:
            pool, loop = self._started_pool(), asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, _ready) for _ in range(self._processes)))

    async def stop(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # A process may be parsing a body for a second or two: wait for it off the event loop.
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> CallParser:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def prepare(self, interface: Interface, raw: bytes, headers: SignatureHeaders) -> PreparedCall:
        """`prepare_call` for this call, wherever its size says; NotStored if its process died."""
        if len(raw) < LARGE_BODY_BYTES or not self._processes:
            return prepare_call(self._preparation, interface, raw, headers)
        pool = self._started_pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _prepare_in_process, interface, raw, headers)
        except BrokenProcessPool:
            if self._pool is pool:
                log.warning("a parsing process died (out of memory?); starting the parsing processes afresh")
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise NotStored("the body could not be parsed: its parsing process stopped; try again") from None

    def _started_pool(self) -> ProcessPoolExecutor:
        """The pool, made afresh if there is none (it spawns its processes as calls come)."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._processes,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_parsing_process,
                initargs=self._arguments,
            )
        return self._pool
