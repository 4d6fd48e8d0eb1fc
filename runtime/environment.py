"""The environment variables syncpipe reads: each setting's name, what a bad one looks like to a person,
and the `SYNCPIPE_*` variables nothing reads (a typo that would otherwise fall back to a default)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pydantic import ValidationError

from runtime.settings import Settings

# Read outside `Settings`, by the embedded services and the test tooling.
OTHER_VARIABLES = frozenset(
    {
        "SYNCPIPE_PG_BINDIR",  # the PostgreSQL binaries of the embedded cluster (syncpipe/embedded)
        "SYNCPIPE_TANSU_BIN",  # the Tansu executable of the embedded broker (syncpipe/embedded)
        "SYNCPIPE_BROKER",  # which embedded broker `syncpipe up` starts
        "SYNCPIPE_SERVICES",  # tests: where the suite's broker and Postgres run
        "SYNCPIPE_TEST_BROKERS",  # tests: which brokers the broker tests run on
        "SYNCPIPE_TEST_PROCESSES",  # tests: how many processes `./dev test` runs the suite in
        "SYNCPIPE_UPDATE_SCREENSHOTS",  # tests: rewrite the console's screenshots in docs/
    }
)


def env_name(field_name: str) -> str:
    """The variable a field of `Settings` is read from: its alias, else the prefixed field name."""
    alias = Settings.model_fields[field_name].validation_alias
    if alias is None:
        return f"{Settings.model_config.get('env_prefix', '')}{field_name}".upper()
    if not isinstance(alias, str):
        raise TypeError(f"{field_name}: env_name does not know this kind of alias ({alias!r})")
    return alias


def setting_names() -> frozenset[str]:
    return frozenset(env_name(name) for name in Settings.model_fields)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The `SYNCPIPE_*` variables set in `environ` that nothing reads, sorted."""
    known = setting_names() | OTHER_VARIABLES
    return sorted(name for name in environ if name.startswith("SYNCPIPE_") and name not in known)


def describe(error: ValidationError) -> list[str]:
    """One line per problem, naming the variable (never its value): `SYNCPIPE_API_PORT: Input should be ...`."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        location = problem["loc"][0] if problem["loc"] else None
        message = problem["msg"].removeprefix("Value error, ")
        if isinstance(location, str) and location in Settings.model_fields:
            name = env_name(location)
            lines.append(message if message.startswith(name) else f"{name}: {message}")
        elif isinstance(location, str):
            lines.append(f"{location}: {message}")  # an alias (KAFKA_BOOTSTRAP_SERVERS) is the variable
        else:
            lines.append(message)  # a rule across settings: its message names the variables
    return lines


def listed(names: Iterable[str]) -> str:
    """Field names as the variables a person sets, for a command's --help."""
    return ", ".join(env_name(name) for name in names)
