"""The embedded Apache Kafka's jars: resolved by Maven from Maven Central, once per machine.

`kafka_classpath()` answers from a classpath file cached under `~/.cache/syncpipe/` (or
`$XDG_CACHE_HOME/syncpipe/`), keyed by the hash of the checked-in `apache-kafka/pom.xml`, as long as
every jar it names is still in Maven's local repository (`~/.m2`). Otherwise Maven resolves the pom:
offline first (the jars may all be in `~/.m2` already), then online. Nothing is written inside the
installed package, so this works from a wheel too.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from syncpipe.embedded.process import EmbeddedServiceError

# A cold resolution downloads ~75 MB of jars and Maven's own plugins; a slow link takes minutes.
_RESOLVE_TIMEOUT_S = 900.0
# `java -version` answers in a tenth of a second; this bounds a machine under load.
_JAVA_VERSION_TIMEOUT_S = 30.0
# Kafka 4's brokers are compiled for Java 17.
_JAVA_MIN_VERSION = 17
_INSTALL_HINT = "(Debian: apt-get install openjdk-17-jre-headless maven), or use the Tansu broker (--broker tansu)"


def runtime_file(name: str) -> Traversable:
    """A file of the embedded Kafka's runtime shipped with the package (`pom.xml`, `log4j2.properties`)."""
    return resources.files("syncpipe.embedded").joinpath("apache-kafka", name)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "syncpipe"


@functools.cache
def java_executable() -> str:
    """The `java` of JAVA_HOME, else of the PATH; EmbeddedServiceError naming what to install if none is
    there or it is older than Java 17."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise EmbeddedServiceError(f"the embedded Apache Kafka needs Java {_JAVA_MIN_VERSION}+ {_INSTALL_HINT}")
    answer = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=_JAVA_VERSION_TIMEOUT_S, check=False
    )
    match = re.search(r'version "(\d+)', answer.stderr)
    if not match or int(match[1]) < _JAVA_MIN_VERSION:
        found = answer.stderr.splitlines()[0] if answer.stderr else "no version"
        raise EmbeddedServiceError(
            f"the embedded Apache Kafka needs Java {_JAVA_MIN_VERSION}+ (found {found}) {_INSTALL_HINT}"
        )
    return java


def kafka_classpath() -> str:
    """The classpath of the pinned Kafka broker and its storage tool (resolving it on first use)."""
    pom = runtime_file("pom.xml").read_bytes()
    key = hashlib.sha256(pom).hexdigest()[:16]
    cached = cache_dir() / f"kafka-classpath-{key}.txt"
    if cached.exists():
        classpath = cached.read_text(encoding="utf-8").strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    return _resolve(pom, key, cached)


def _resolve(pom: bytes, key: str, cached: Path) -> str:
    """Run Maven on a copy of the pom in the cache (never inside the package); write the classpath file
    atomically, so that processes resolving at the same time each read a whole one."""
    mvn = shutil.which("mvn")
    if not mvn:
        raise EmbeddedServiceError(f"the embedded Apache Kafka needs Maven to fetch its jars once {_INSTALL_HINT}")
    project = cache_dir() / f"kafka-pom-{key}"
    project.mkdir(parents=True, exist_ok=True)
    (project / "pom.xml").write_bytes(pom)
    partial = project / f"classpath.{os.getpid()}.txt"
    goal = ["dependency:build-classpath", f"-Dmdep.outputFile={partial}"]
    failure = ""
    for mode in (["-o"], []):  # offline: every jar may already be in ~/.m2 (only the cache file was lost)
        result = subprocess.run(
            [mvn, "-q", "-B", *mode, "-f", str(project / "pom.xml"), *goal],
            capture_output=True,
            text=True,
            timeout=_RESOLVE_TIMEOUT_S,
            check=False,
        )
        if result.returncode == 0 and partial.exists():
            os.replace(partial, cached)
            return cached.read_text(encoding="utf-8").strip()
        failure = (result.stdout + result.stderr)[-2000:]
    raise EmbeddedServiceError(f"Maven could not resolve the embedded Apache Kafka ({project / 'pom.xml'}): {failure}")
