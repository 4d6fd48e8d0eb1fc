"""`python -m workers.acks`: one acker from the environment's settings; SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import asyncio
import logging
import signal

from runtime.settings import Settings
from workers.acks.service import serve_acker


async def _main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_acker(Settings(), stop=stop)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    asyncio.run(_main())
