"""Where the embedded Apache Kafka's jars come from: Maven once, then a cached classpath; and what a
machine without Java or Maven is told."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncpipe.embedded.maven import cache_dir, java_executable, kafka_classpath
from syncpipe.embedded.process import EmbeddedServiceError


@pytest.fixture
def no_tools_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A PATH with neither `java` nor `mvn`, no JAVA_HOME, and no cached classpath."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    java_executable.cache_clear()
    yield
    java_executable.cache_clear()


@pytest.mark.usefixtures("no_tools_on_path")
def test_without_java_the_error_says_what_to_install() -> None:
    with pytest.raises(EmbeddedServiceError, match=r"needs Java 17\+ \(Debian: apt-get install openjdk-17"):
        java_executable()


@pytest.mark.usefixtures("no_tools_on_path")
def test_without_maven_the_first_resolution_says_what_to_install() -> None:
    with pytest.raises(EmbeddedServiceError, match=r"needs Maven .*apt-get install .*maven"):
        kafka_classpath()


def test_the_classpath_is_read_from_the_cache_without_maven(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    classpath = kafka_classpath()
    jars = classpath.split(os.pathsep)
    assert any(Path(jar).name.startswith("kafka_2.13-") for jar in jars)
    assert all(Path(jar).is_file() for jar in jars)
    assert list(cache_dir().glob("kafka-classpath-*.txt"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn: only the cache can answer
    assert kafka_classpath() == classpath


def test_a_lost_cache_is_rebuilt_from_the_local_maven_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    classpath = kafka_classpath()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert kafka_classpath() == classpath
    assert [path.name for path in (tmp_path / "syncpipe").glob("kafka-classpath-*.txt")]
