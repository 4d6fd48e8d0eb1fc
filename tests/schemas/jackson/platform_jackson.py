"""Real Jackson computing the canonical form of SPEC §2: CanonicalForm.java on the jackson-databind
pinned in pom.xml, one JVM for the whole test session.

Needs `java` (17: schemas.java_double follows that JDK's Double.toString) and `mvn`; when either is
missing, or Maven cannot resolve the library, this raises: it never skips. Maven resolves into ~/.m2;
the class path it finds is remembered in pytest's cache per pom.xml, since asking Maven again costs
more than the whole test.
"""

from __future__ import annotations

import hashlib
import os
import select
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

import pytest

HERE = Path(__file__).parent
POM = HERE / "pom.xml"
PROGRAM = HERE / "CanonicalForm.java"
JAVA_VERSION = "17"
_CACHE_KEY = "syncpipe/jackson-class-path"
# Compiling the source file and starting the JVM takes ~1-3 s; an answer for one body, milliseconds.
_START_TIMEOUT_S = 60.0
_ANSWER_TIMEOUT_S = 30.0
# A first resolution downloads the library and Maven's dependency plugin.
_MAVEN_TIMEOUT_S = 600.0


class JacksonUnavailable(RuntimeError):
    """Java, Maven or the library is missing, or the JVM is not the platform's Java 17."""


class JacksonRefused(ValueError):
    """Jackson could not read a body; the message is its exception."""


def tool(name: str) -> str:
    """The path of `name` (JAVA_HOME's java first), or JacksonUnavailable."""
    java_home = os.environ.get("JAVA_HOME")
    if name == "java" and java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which(name)
    if found is None:
        raise JacksonUnavailable(
            f"`{name}` not found: the canonical-form tests compare with real Jackson and need Java 17 and Maven"
        )
    return found


def class_path(cache: pytest.Cache | None) -> str:
    """The jars of the pinned jackson-databind (pytest's `config.cache`, or None to always ask Maven)."""
    pom_digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    remembered = cache.get(_CACHE_KEY, None) if cache is not None else None
    if remembered and remembered.get("pom") == pom_digest:
        jars: str = remembered["class_path"]
        if all(Path(jar).is_file() for jar in jars.split(os.pathsep)):
            return jars
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "class-path.txt"
        command = [tool("mvn"), "-q", "-B", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={output}"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=_MAVEN_TIMEOUT_S, check=False)
        if done.returncode != 0 or not output.is_file():
            raise JacksonUnavailable(f"Maven could not resolve {POM}:\n{done.stdout}\n{done.stderr}")
        jars = output.read_text().strip()
    if cache is not None:
        cache.set(_CACHE_KEY, {"pom": pom_digest, "class_path": jars})
    return jars


class PlatformJackson:
    """One JVM running CanonicalForm.java; `canonical(body)` is Jackson's canonical form of one body."""

    def __init__(self, cache: pytest.Cache | None = None) -> None:
        java = tool("java")
        tool("mvn")  # needed by every fresh machine: missing is an error even when the cache answers
        # Lives as long as the JVM, so closed by close(), not by a with block: read when the JVM fails.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [java, "-cp", class_path(cache), str(PROGRAM)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            bufsize=0,
        )
        self._pending = b""
        version = self._read_line(_START_TIMEOUT_S)
        if version != JAVA_VERSION:
            self.close()
            raise JacksonUnavailable(
                f"{java} is Java {version}; the platform's Double.toString is Java {JAVA_VERSION}'s"
            )

    def canonical(self, body: str) -> str:
        """Jackson's canonical form of `body` (one JSON object, no raw line break), or JacksonRefused."""
        stdin = self._pipe(self._process.stdin)
        stdin.write(body.encode() + b"\n")
        stdin.flush()
        answer = self._read_line(_ANSWER_TIMEOUT_S)
        if answer.startswith("!"):
            raise JacksonRefused(answer[1:])
        return answer

    def close(self) -> None:
        self._pipe(self._process.stdin).close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._pipe(self._process.stdout).close()
        self._stderr.close()

    def __enter__(self) -> PlatformJackson:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def _read_line(self, timeout_s: float) -> str:
        stdout = self._pipe(self._process.stdout)
        while b"\n" not in self._pending:
            ready, _, _ = select.select([stdout], [], [], timeout_s)
            chunk = os.read(stdout.fileno(), 1 << 16) if ready else b""
            if not chunk:
                self._stderr.seek(0)
                problem = "no answer in time" if not ready else "the JVM exited"
                raise JacksonUnavailable(f"{problem}: {self._stderr.read().decode(errors='replace')}")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line.decode()

    @staticmethod
    def _pipe(stream: IO[bytes] | None) -> IO[bytes]:
        assert stream is not None
        return stream
