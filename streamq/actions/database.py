"""The database action: call a PostgreSQL function with the event, through a psycopg 3 pool.

The call is `SELECT <function_name>(%s::jsonb)` with `{"event": <event>, "params": <params>}`.
The function's name is checked when the action is made (`DatabaseAction`: an identifier or
`schema.name`), so it is the only text put into the SQL; the argument always travels as a bound
parameter. Each call runs in autocommit under a statement timeout. Any SQL or connection error,
and waiting too long for a pooled connection, is transient; no database configured
(`[actions] database_url`) is permanent.
"""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ..errors import PermanentActionError, TransientActionError
from ..model.actions import DatabaseAction
from ..model.event import Event
from .settings import ActionSettings

__all__ = ["call_function", "make_pool"]


def make_pool(settings: ActionSettings) -> AsyncConnectionPool[Any] | None:
    """The pool of `[actions] database_url` (not yet open), or `None` without one."""
    if not settings.database_url:
        return None
    timeout_ms = int(settings.database_timeout_s * 1000)
    return AsyncConnectionPool(
        settings.database_url,
        min_size=settings.database_pool_min_size,
        max_size=settings.database_pool_max_size,
        timeout=settings.database_timeout_s,
        kwargs={"autocommit": True, "options": f"-c statement_timeout={timeout_ms}"},
        # A connection broken while idle (a server restart) is replaced, not handed out.
        check=AsyncConnectionPool.check_connection,
        open=False,
        name="streamq-actions",
    )


async def call_function(
    pool: AsyncConnectionPool[Any] | None, action: DatabaseAction, event: Event
) -> Any:
    """Run one database action.

    Args:
        pool: The database pool (`None` when none is configured); opened on first use.
        action: The action.
        event: The event passed to the function.

    Returns:
        The function's result (the first column of its one row).

    Raises:
        PermanentActionError: without a database.
        TransientActionError: for any database error.
    """
    if pool is None:
        raise PermanentActionError("database: no database configured ([actions] database_url)")
    argument = Jsonb({"event": msgspec.to_builtins(event), "params": action.params})
    query = sql.SQL("SELECT {}(%s::jsonb)").format(sql.SQL(action.function_name))
    try:
        await pool.open()
        async with pool.connection() as conn:
            row = await (await conn.execute(query, (argument,))).fetchone()
    except psycopg.Error as exc:
        # The message names the function and the server's reason, never the connection string.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TransientActionError(
            reason=f"database: {action.function_name}: {type(exc).__name__}: {reason}"
        ) from None
    return None if row is None else row[0]
