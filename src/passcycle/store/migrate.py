"""Schema migrations: create the history's tables, upgrade older ones, refuse newer ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from passcycle import __version__
from passcycle.errors import HistoryError
from passcycle.store import schema
from passcycle.store.engine import display, scrub, transaction


@dataclass(frozen=True, slots=True)
class Step:
    """Brings the schema from `version - 1` to `version`, inside the upgrade's transaction."""

    version: int
    description: str
    apply: Callable[[Connection], None]


# One step per version after 1, in order; schema.py logs what each version holds. Both
# backends run DDL inside the transaction, so a failed step leaves the history unchanged.
def _v2(conn: Connection) -> None:
    for table in schema.V2_TABLES:
        table.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    # ADD COLUMN with a constant default is plain DDL on both SQLite and PostgreSQL.
    conn.exec_driver_sql("ALTER TABLE test_results ADD COLUMN cpu FLOAT")
    conn.exec_driver_sql("ALTER TABLE test_results ADD COLUMN solo FLOAT")
    conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN partial BOOLEAN NOT NULL DEFAULT FALSE")
    runs = schema.runs
    conn.execute(sa.update(runs).where(runs.c.kind.in_(("retest", "shard"))).values(partial=True))


def _v4(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE test_results ADD COLUMN probe FLOAT")


def _v5(conn: Connection) -> None:
    for table in schema.V5_TABLES:
        table.create(conn, checkfirst=True)


def _v6(conn: Connection) -> None:
    for table in schema.V6_TABLES:
        table.create(conn, checkfirst=True)


STEPS: tuple[Step, ...] = (
    Step(2, "shards and their coverage data", _v2),
    Step(3, "each test's CPU and solo time, and partial runs", _v3),
    Step(4, "the machine's speed around each test", _v4),
    Step(5, "security audits and their findings", _v5),
    Step(6, "each scenario's timeline", _v6),
)

# pg_advisory_xact_lock key ("pass"): two first runs against a new database must not both
# create the tables.
_PG_LOCK_KEY = 0x70617373


def read_version(conn: Connection) -> int | None:
    """The schema version the database records; None when it holds no history yet."""
    if not sa.inspect(conn).has_table(schema.meta.name):
        return None
    raw = conn.scalar(sa.select(schema.meta.c.value).where(schema.meta.c.key == "schema_version"))
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise HistoryError(
            f"the history's schema version {raw!r} is not a number",
            hint="the meta table was edited by hand; restore it or start a new history",
        ) from None


def ensure_schema(
    engine: Engine,
    url: URL,
    *,
    version: int = schema.SCHEMA_VERSION,
    steps: Sequence[Step] = STEPS,
) -> int:
    """Create or upgrade the schema to `version`; returns the version found before."""
    with transaction(engine) as conn:
        found = read_version(conn)
    _refuse_newer(found, version, url)
    if found == version:
        return found
    with transaction(engine, write=True) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        # Look again under the lock: another process may have done the work meanwhile.
        found = read_version(conn)
        _refuse_newer(found, version, url)
        if found is None:
            _create(conn, url)
            current = schema.SCHEMA_VERSION
        else:
            current = found
        _upgrade(conn, url, current, version, steps)
    return found if found is not None else 0


def _refuse_newer(found: int | None, version: int, url: URL) -> None:
    if found is not None and found > version:
        raise HistoryError(
            f"the history {display(url)} has schema version {found}, newer than this "
            f"passcycle knows ({version}): upgrade passcycle to use it",
            hint="pip install --upgrade passcycle",
        )


def _create(conn: Connection, url: URL) -> None:
    inspector = sa.inspect(conn)
    clashing = [name for name in schema.metadata.tables if inspector.has_table(name)]
    if clashing:
        # Someone else's tables: writing beside them would mix two applications' data.
        raise HistoryError(
            f"the database {display(url)} already has tables named "
            f"{', '.join(sorted(clashing))} that passcycle did not create",
            hint="give passcycle its own database or schema (PASSCYCLE_DB)",
        )
    schema.metadata.create_all(conn)
    conn.execute(
        sa.insert(schema.meta),
        [
            {"key": "schema_version", "value": str(schema.SCHEMA_VERSION)},
            {"key": "created_by", "value": f"passcycle {__version__}"},
        ],
    )


def _upgrade(conn: Connection, url: URL, current: int, version: int, steps: Sequence[Step]) -> None:
    if current == version:
        return
    by_version = {step.version: step for step in steps}
    for target in range(current + 1, version + 1):
        step = by_version.get(target)
        if step is None:
            raise HistoryError(
                f"no migration of the history from schema {target - 1} to {target}",
                hint="this passcycle is broken; reinstall it",
            )
        try:
            step.apply(conn)
        except sa.exc.SQLAlchemyError as exc:
            reason = scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
            raise HistoryError(
                f"upgrading the history {display(url)} to schema {target} "
                f"({step.description}) failed: {reason}",
                hint="the history is unchanged; report this to passcycle",
            ) from exc
    conn.execute(
        sa.update(schema.meta)
        .where(schema.meta.c.key == "schema_version")
        .values(value=str(version))
    )
