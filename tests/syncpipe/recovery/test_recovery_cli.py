"""`syncpipe replay | rebuild | dlq | events` as scripts use them: exit codes, `--json`, dry runs."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from pydantic import SecretStr

from runtime.postgres.migrate import migrate_url
from runtime.settings import Settings
from schemas.instance_calls import derive_instance_id
from schemas.redaction import REDACTED
from syncpipe.embedded.process import free_port
from syncpipe.recovery.arguments import add_commands, parse_time
from syncpipe.recovery.commands import run
from syncpipe.recovery.exit_codes import EXIT_ATTENTION, EXIT_NOT_FOUND, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from syncpipe.simulation.model import expected_state
from tests.read_api.instance_seed import apply_instance_calls
from tests.workers.pipeline import publish, read_snapshot
from tests.workers.replay.recovery_fixtures import apply_records, as_records, dump_tables, simulated_calls
from workers.applier.records import ConsumedRecord

pytestmark = pytest.mark.integration


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="syncpipe")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


async def cli(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    """Exit code and stdout (parsed when --json)."""
    code = await run(parse(*argv), settings)
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in argv else out


@pytest.fixture
async def db_settings(settings: Settings, database_url: str) -> Settings:
    await migrate_url(database_url)
    return settings.model_copy(update={"database_url": SecretStr(database_url), "max_record_bytes": 1024})


def test_times_are_iso_platform_or_ago() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_time("15m", now) == now - timedelta(minutes=15)
    assert parse_time("2d", now) == now - timedelta(days=2)
    assert parse_time("2026-05-01T10:00:00", now) == datetime(2026, 5, 1, 10, tzinfo=UTC)  # no zone: UTC
    assert parse_time("2026-05-01T10:00:00+08:00", now) == datetime(2026, 5, 1, 2, tzinfo=UTC)
    assert parse_time("20260501100000000", now) == datetime(2026, 5, 1, 2, tzinfo=UTC)  # platform time, UTC+8
    with pytest.raises(argparse.ArgumentTypeError):
        parse_time("yesterday", now)


def test_bad_arguments_exit_2() -> None:
    for argv in (["replay"], ["replay", "--since", "1h", "--from-offset", "0:0"], ["dlq", "retry"], ["rebuild"]):
        with pytest.raises(SystemExit) as exited:
            parse(*argv)
        assert exited.value.code == EXIT_USAGE


async def test_replay_dry_run_then_apply_then_nothing_left(
    db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tenant,), calls = simulated_calls(seed=41, tenants=1)
    await publish(db_settings, calls)  # no worker runs: what is applied, the replay applied
    connection = await asyncpg.connect(database_url)
    try:
        before = await dump_tables(connection)
        code, dry = await cli(db_settings, capsys, "replay", "--since", "5m", "--dry-run", "--json")
        assert (code, dry["dryRun"], dry["refed"], dry["alreadyHad"]) == (EXIT_OK, True, len(calls), 0)
        assert await dump_tables(connection) == before
    finally:
        await connection.close()

    code, applied = await cli(db_settings, capsys, "replay", "--since", "5m", "--tenant", tenant, "--json")
    assert (code, applied["refed"], applied["deadLettered"]) == (EXIT_OK, len(calls), 0)
    assert applied["recordsRead"] == applied["recordsMatched"] > applied["eventsMatched"] == len(calls)
    assert await read_snapshot(database_url, tenant) == expected_state(calls)[tenant]

    code, text = await cli(db_settings, capsys, "replay", "--since", "5m")
    assert code == EXIT_OK
    assert f"already had         {len(calls)} " in text
    assert "re-fed              0 " in text

    code, _ = await cli(db_settings, capsys, "replay", "--from-offset", "99:0")
    assert code == EXIT_USAGE  # the topic has 4 partitions


async def test_dlq_commands(db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await apply_records(connection, [ConsumedRecord("events", 0, 0, b"t-cli", b"not json", ())])
        [letter] = [row["dead_letter_id"] for row in await connection.fetch("SELECT dead_letter_id FROM dead_letters")]
        code, listed = await cli(db_settings, capsys, "dlq", "list", "--json")
        assert (code, listed["total"], listed["deadLetters"][0]["id"]) == (EXIT_OK, 1, letter)
        code, shown = await cli(db_settings, capsys, "dlq", "show", str(letter), "--json")
        assert (code, shown["tenantId"], shown["eventStatus"]) == (EXIT_OK, "t-cli", "dead_lettered")
        assert "not JSON" in shown["reason"]
        assert (shown["payload"], shown["payloadText"], shown["payloadBytes"]) == (None, "not json", 8)
        assert (await cli(db_settings, capsys, "dlq", "show", "999999"))[0] == EXIT_NOT_FOUND

        before = await dump_tables(connection)
        code, retried = await cli(db_settings, capsys, "dlq", "retry", str(letter), "--dry-run", "--json")
        assert (code, retried["results"][0]["result"]) == (EXIT_ATTENTION, "dead_lettered")  # would still fail
        code, dropped = await cli(db_settings, capsys, "dlq", "drop", str(letter), "--dry-run", "--json")
        assert (code, dropped["results"][0]["result"]) == (EXIT_OK, "dropped")
        assert await dump_tables(connection) == before

        code, retried = await cli(db_settings, capsys, "dlq", "retry", str(letter), "--json")
        assert (code, retried["results"][0]["result"]) == (EXIT_ATTENTION, "dead_lettered")
        assert (await cli(db_settings, capsys, "dlq", "retry", str(letter), "999999"))[0] == EXIT_NOT_FOUND
        assert (await cli(db_settings, capsys, "dlq", "drop", str(letter)))[0] == EXIT_OK
        code, listed = await cli(db_settings, capsys, "dlq", "list", "--state", "dropped", "--json")
        assert (code, listed["total"]) == (EXIT_OK, 1)
        assert await cli(db_settings, capsys, "dlq", "retry", "--all") == (EXIT_OK, "no dead letters to retry\n")
    finally:
        await connection.close()


async def test_rebuild_and_events(db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tenant,), calls = simulated_calls(seed=42, tenants=1)
    connection = await asyncpg.connect(database_url)
    try:
        await apply_records(connection, as_records(calls))
    finally:
        await connection.close()
    code, report = await cli(db_settings, capsys, "rebuild", "--tenant", tenant, "--dry-run", "--json")
    assert (code, report["dryRun"], report["diff"]["unchanged"]) == (EXIT_OK, True, True)
    assert report["eventsUsed"] == sum(1 for call in calls if call.testFlag == 0)
    code, text = await cli(db_settings, capsys, "rebuild", "--tenant", tenant)
    assert code == EXIT_OK
    assert f"rebuild of tenant {tenant}" in text
    assert "the stored state already matched its events" in text
    assert (await cli(db_settings, capsys, "rebuild", "--tenant", "nobody"))[0] == EXIT_NOT_FOUND

    code, events = await cli(db_settings, capsys, "events", "--tenant", tenant, "--limit", "5", "--json")
    assert (code, len(events["events"]), events["more"]) == (EXIT_OK, 5, True)
    assert (await cli(db_settings, capsys, "events", "--tenant", "nobody"))[0] == EXIT_NOT_FOUND


async def test_rebuild_of_an_instance(
    db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = derive_instance_id("CS-CLI", "CS-CLI-1")
    connection = await asyncpg.connect(database_url)
    try:
        await apply_instance_calls(
            connection,
            [
                (10, {"activity": "newInstance", "orderId": "CS-CLI", "orderLineId": "CS-CLI-1"}),
                (20, {"activity": "updateInstanceStatus", "instanceId": instance, "status": "FREEZE"}),
                (30, {"activity": "releaseInstance", "instanceId": instance}),
            ],
        )
        await connection.execute("UPDATE instances SET status = 'ready', frozen = false")  # a bad hand edit
    finally:
        await connection.close()
    code, report = await cli(db_settings, capsys, "rebuild", "--instance", instance, "--dry-run", "--json")
    assert (code, report["dryRun"], report["eventsUsed"], report["after"]["status"]) == (EXIT_OK, True, 3, "released")
    code, text = await cli(db_settings, capsys, "rebuild", "--instance", instance)
    assert code == EXIT_OK
    assert f"rebuild of instance {instance}" in text
    assert "status                released" in text
    assert (await cli(db_settings, capsys, "rebuild", "--instance", "nobody"))[0] == EXIT_NOT_FOUND
    with pytest.raises(SystemExit) as usage:
        parse("rebuild", "--instance", instance, "--tenant", "t")
    assert usage.value.code == EXIT_USAGE


async def test_missing_settings_unmigrated_database_and_outages(
    settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (await cli(settings, capsys, "dlq", "list"))[0] == EXIT_USAGE  # no DATABASE_URL
    fresh = settings.model_copy(update={"database_url": SecretStr(database_url)})
    code = await run(parse("dlq", "list"), fresh)
    assert code == EXIT_USAGE  # not migrated
    assert "syncpipe migrate" in capsys.readouterr().err
    down = settings.model_copy(update={"database_url": SecretStr(f"postgresql://x@127.0.0.1:{free_port()}/x")})
    assert (await cli(down, capsys, "events", "--tenant", "t"))[0] == EXIT_UNAVAILABLE
    no_kafka = fresh.model_copy(update={"kafka_bootstrap_servers": None})
    assert (await cli(no_kafka, capsys, "replay", "--since", "1h"))[0] == EXIT_USAGE
    await migrate_url(database_url)
    kafka_down = fresh.model_copy(update={"kafka_bootstrap_servers": f"127.0.0.1:{free_port()}"})
    for dry_run in ([], ["--dry-run"]):  # with and without the dead-letter producer
        assert (await cli(kafka_down, capsys, "replay", "--since", "1h", *dry_run))[0] == EXIT_UNAVAILABLE


def test_the_syncpipe_command_runs_them(database_url: str) -> None:
    """Through the real entry point: settings from the environment, exit code and JSON on stdout."""
    env = {**os.environ, "DATABASE_URL": database_url}
    subprocess.run([sys.executable, "-m", "syncpipe", "migrate"], env=env, check=True, capture_output=True)

    def syncpipe(*argv: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "syncpipe", *argv]
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)

    listed = syncpipe("dlq", "list", "--json")
    assert (listed.returncode, json.loads(listed.stdout)) == (EXIT_OK, {"deadLetters": [], "total": 0})
    missing = syncpipe("dlq", "show", "7")
    assert missing.returncode == EXIT_NOT_FOUND
    assert "no dead letter 7" in missing.stderr


async def test_dlq_show_redacts_as_the_console_does(
    db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """One redaction for every reader: `dlq show` masks every secret-like key, not only clientSecret."""
    value = json.dumps({"clientSecret": "s3cr3t-1", "nested": {"apiToken": "s3cr3t-2"}, "name": "kept"}).encode()
    connection = await asyncpg.connect(database_url)
    try:
        await apply_records(connection, [ConsumedRecord("events", 0, 0, b"t-redact", value, ())])
        [letter] = [row["dead_letter_id"] for row in await connection.fetch("SELECT dead_letter_id FROM dead_letters")]
    finally:
        await connection.close()
    code, shown = await cli(db_settings, capsys, "dlq", "show", str(letter), "--json")
    assert code == EXIT_OK
    assert shown["payload"] == {"clientSecret": REDACTED, "nested": {"apiToken": REDACTED}, "name": "kept"}
    await cli(db_settings, capsys, "dlq", "show", str(letter))
    assert "s3cr3t" not in capsys.readouterr().out


async def test_dlq_show_masks_headers_and_text_records_as_the_console_does(
    db_settings: Settings, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record that is not JSON and a secret-like header: masked in the text of `dlq show` as in its
    --json (the read API's and the console's shape), not printed as they were stored."""
    value = b"clientSecret=s3cr3t-3 and then not JSON {"
    headers = (("x-api-token", b"s3cr3t-4"), ("traceparent", b"00-kept"))
    connection = await asyncpg.connect(database_url)
    try:
        await apply_records(connection, [ConsumedRecord("events", 0, 0, b"t-redact", value, headers)])
        [letter] = [row["dead_letter_id"] for row in await connection.fetch("SELECT dead_letter_id FROM dead_letters")]
    finally:
        await connection.close()
    code, shown = await cli(db_settings, capsys, "dlq", "show", str(letter), "--json")
    assert code == EXIT_OK
    assert shown["payloadText"] == f"clientSecret={REDACTED} and then not JSON {{"
    assert {"name": "x-api-token", "value": REDACTED} in shown["headers"]
    code, text = await cli(db_settings, capsys, "dlq", "show", str(letter))
    assert code == EXIT_OK
    assert "s3cr3t" not in text
    assert f"x-api-token={REDACTED}" in text
    assert f"clientSecret={REDACTED} and then not JSON {{" in text
    assert "traceparent=00-kept" in text
