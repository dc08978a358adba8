"""The database action against a real PostgreSQL started by the fixture (never a mock)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator

import msgspec
import psycopg
import pytest
import pytest_asyncio

from streamq.errors import ConfigError, PermanentActionError, TransientActionError
from streamq.model.actions import DatabaseAction
from streamq.model.event import Event
from streamq.observers import ActionRuntime, ActionSettings
from tests.support.postgres import PostgresServer

EVENT = Event(
    id=str(uuid.uuid4()), event_type="INSERT", entity_type="Order", entity_id="o-42",
    data={"total": 150, "status": "paid"},
)  # fmt: skip


@pytest.fixture
def schema(postgres: PostgresServer) -> Iterator[str]:
    """A schema of this test's own, with a table the functions write to."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
        conn.execute(f"CREATE TABLE {name}.calls (payload jsonb)")
        conn.execute(
            f"CREATE FUNCTION {name}.record(p jsonb) RETURNS int LANGUAGE sql AS "
            f"$$ INSERT INTO {name}.calls VALUES (p); SELECT 1 $$"
        )
        conn.execute(
            f"CREATE FUNCTION {name}.refuse(p jsonb) RETURNS int LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION 'order % refused', p->'event'->>'entity_id'; END $$"
        )
    yield name
    with psycopg.connect(postgres.conninfo, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {name} CASCADE")


@pytest_asyncio.fixture
async def runtime(postgres: PostgresServer) -> AsyncIterator[ActionRuntime]:
    settings = ActionSettings(database_url=postgres.conninfo, database_pool_max_size=2)
    async with ActionRuntime(settings) as rt:
        yield rt


def calls(postgres: PostgresServer, schema: str) -> list[dict[str, object]]:
    with psycopg.connect(postgres.conninfo) as conn:
        return [row[0] for row in conn.execute(f"SELECT payload FROM {schema}.calls")]


async def test_the_function_gets_the_event_and_params_as_jsonb(
    runtime: ActionRuntime, postgres: PostgresServer, schema: str
) -> None:
    # Given a function that records its argument, when the action calls it
    action = DatabaseAction(function_name=f"{schema}.record", params={"source": "shop"})
    await runtime.execute(action, EVENT, job_id="j1")
    # then it was called once, committed, with {"event": ..., "params": ...}
    assert calls(postgres, schema) == [
        {"event": json.loads(msgspec.json.encode(EVENT)), "params": {"source": "shop"}}
    ]


async def test_calls_share_the_pool(
    runtime: ActionRuntime, postgres: PostgresServer, schema: str
) -> None:
    action = DatabaseAction(function_name=f"{schema}.record")
    for i in range(5):
        await runtime.execute(action, EVENT, job_id=f"j{i}")
    assert len(calls(postgres, schema)) == 5
    assert [c["params"] for c in calls(postgres, schema)] == [None] * 5


async def test_an_sql_error_is_transient_and_names_the_function(
    runtime: ActionRuntime, schema: str
) -> None:
    action = DatabaseAction(function_name=f"{schema}.refuse")
    with pytest.raises(TransientActionError, match=r"refuse: RaiseException: order o-42 refused"):
        await runtime.execute(action, EVENT, job_id="j1")


async def test_a_missing_function_is_transient(runtime: ActionRuntime, schema: str) -> None:
    # It may be created by the next deployment: retried, then dead-lettered with the reason.
    action = DatabaseAction(function_name=f"{schema}.nope")
    with pytest.raises(TransientActionError, match="UndefinedFunction"):
        await runtime.execute(action, EVENT, job_id="j1")


async def test_no_database_configured_is_permanent() -> None:
    async with ActionRuntime(ActionSettings()) as rt:
        with pytest.raises(PermanentActionError, match="database_url"):
            await rt.execute(DatabaseAction(function_name="f"), EVENT, job_id="j1")


async def test_an_unreachable_database_is_transient(tmp_path: object) -> None:
    settings = ActionSettings(
        database_url=f"host={tmp_path} port=5432 user=x dbname=x", database_timeout_s=1
    )
    async with ActionRuntime(settings) as rt:
        with pytest.raises(TransientActionError, match="database: f: "):
            await rt.execute(DatabaseAction(function_name="f"), EVENT, job_id="j1")


@pytest.mark.parametrize(
    "name", ["f; DROP TABLE x", "f()", "a.b.c", "1f", "", "f--", '"f"', "s.f(1)"]
)
def test_a_function_name_that_is_not_an_identifier_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="function_name"):
        DatabaseAction(function_name=name)
