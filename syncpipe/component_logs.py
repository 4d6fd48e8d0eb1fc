"""`syncpipe up`'s logs in files, one per component: `.syncpipe/logs/<component>.log`, JSON lines.

`up` runs every component in one process; in a terminal their log stream would bury the status
view, so each line goes to the file of the component whose logger wrote it (by logger name), masked
as every syncpipe log line is.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

from runtime.logs import log_handler

# Logger name prefixes of each component; what matches none (up itself, the runtime, libraries) goes to up.log.
COMPONENTS: dict[str, tuple[str, ...]] = {
    "gateway": ("gateway",),
    "worker": ("workers.applier", "workers.domain", "workers.replay"),
    "acker": ("workers.acks",),
    "api": ("read_api",),
    "signin": ("signin",),
    "simulator": ("syncpipe.simulation",),
}
OTHERS = "up"


class ComponentFiles(logging.Handler):
    """Sends each record to the file of its component; `close()` closes the files."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = {name: directory / f"{name}.log" for name in [*COMPONENTS, OTHERS]}
        self._files: list[TextIO] = []
        self._handlers: dict[str, logging.Handler] = {}
        for name, path in self.paths.items():
            stream = path.open("a", encoding="utf-8")
            self._files.append(stream)
            self._handlers[name] = log_handler(json=True, stream=stream)
        self._by_prefix = sorted(
            ((prefix, name) for name, prefixes in COMPONENTS.items() for prefix in prefixes),
            key=lambda pair: -len(pair[0]),
        )

    def component_of(self, logger_name: str) -> str:
        for prefix, name in self._by_prefix:
            if logger_name == prefix or logger_name.startswith(prefix + "."):
                return name
        return OTHERS

    def emit(self, record: logging.LogRecord) -> None:
        self._handlers[self.component_of(record.name)].handle(record)

    def close(self) -> None:
        for handler in self._handlers.values():
            handler.flush()
        for stream in self._files:
            stream.close()
        super().close()
