"""Metric values, and whole runs, straight into MLflow's SQL tables, for the embedded SQLite store.

MLflow's `log_batch` builds one ORM object per value and updates the latest-value table through
the ORM: ~0.25 ms a value, ~2 s for one default run's 7,600 values, the largest single cost of a
run (README, Performance). The same rows written with two bulk statements take a few
milliseconds. A run recorded after it trained (a batched sweep's child) goes in as one
transaction: its row, tags, params and metrics, where MLflow's calls took a dozen transactions
and ~50 ms beside the metric rows. The tables are MLflow's own SQLAlchemy models, so the rows
are exactly what `log_batch` and `create_run` write (tested against them); other stores keep
using MLflow's calls.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vgx.store.locks import store_lock


class SqliteMetricWriter:
    """Bulk-inserts metric values, or whole runs, into an SQLite-backed MLflow store."""

    def __init__(self, store) -> None:  # noqa: ANN001 - MLflow's SqlAlchemyStore
        from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

        self._store = store
        self._latest = SqlLatestMetric.__table__
        # The values go in through the driver as tuples: SQLAlchemy's own executemany builds and
        # processes a parameter dict per row in Python first.
        columns = ", ".join(COLUMNS)
        self._insert_values = (
            f"INSERT INTO {SqlMetric.__table__.name} ({columns}) "
            f"VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT DO NOTHING"
        )

    @classmethod
    def for_client(cls, client) -> SqliteMetricWriter | None:  # noqa: ANN001 - an MlflowClient
        """The writer for this client's store, or None where it is not an SQLite SQL store."""
        store = sql_store(client)
        if store is None or store.engine.dialect.name != "sqlite":
            return None
        unknown = _unrecognised_schema(store)
        if unknown:
            _warn_once(
                f"vgx: warning: MLflow's run tables are not as vgx knows them ({unknown}); "
                "recording through MLflow's create_run and log_batch (slower, same values)"
            )
            return None
        return cls(store)

    def write(self, run_id: str, metrics: Sequence[tuple[str, float, int, int]]) -> None:
        """One transaction for (key, value, timestamp, step) values: every value (one already
        stored is skipped, as MLflow does), and each key's newest by (step, timestamp, value),
        MLflow's order. Plain tuples: an MLflow Metric object a value was a fifth of the cost."""
        rows, newest = _prepared(run_id, metrics)
        if not rows:
            return
        with self._turn(), self._store.engine.begin() as connection:
            self._write_metrics(connection, run_id, rows, newest)

    def write_run(
        self,
        experiment_id: str,
        artifact_location: str,
        name: str,
        start_ms: int,
        end_ms: int,
        status: str,
        tags: dict[str, str],
        params: dict[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
    ) -> tuple[str, str]:
        """A finished run in one transaction, as MLflow's create_run, log_batch and
        set_terminated leave it; its new run id and artifact URI."""
        run = self.prepare_run(
            experiment_id, artifact_location, name, start_ms, end_ms, status, tags, params, metrics
        )
        self.write_runs([run])
        return run.run_id, run.artifact_uri

    def prepare_run(
        self,
        experiment_id: str,
        artifact_location: str,
        name: str,
        start_ms: int,
        end_ms: int | None,
        status: str,
        tags: dict[str, str],
        params: dict[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
        run_id: str | None = None,
    ) -> PreparedRun:
        """A run's rows, ready for `write_runs`: a finished run, or one RUNNING without an end
        (a sweep's parent); its id (new unless given) and artifact URI are final."""
        import uuid

        from mlflow.utils.uri import append_to_uri_path

        run_id = run_id or uuid.uuid4().hex
        tags = {**tags, RUN_NAME_TAG: name}
        run_row = {
            "run_uuid": run_id,
            "name": name,
            "source_type": "UNKNOWN",
            "source_name": "",
            "entry_point_name": "",
            "user_id": tags.get("mlflow.user", "unknown"),
            "status": status,
            "start_time": start_ms,
            "end_time": end_ms,
            "deleted_time": None,
            "source_version": "",
            "lifecycle_stage": "active",
            "artifact_uri": append_to_uri_path(artifact_location, run_id, "artifacts"),
            "experiment_id": int(experiment_id),
        }
        rows, newest = _prepared(run_id, metrics)
        return PreparedRun(run_id, run_row["artifact_uri"], run_row, tags, params, rows, newest)

    def write_runs(self, runs: Sequence[PreparedRun]) -> None:
        """Finished runs in one transaction, their metric rows in the order of the metrics
        table's primary key (key, timestamp, step, run): each B-tree page is then written
        once for the group, not once a run. Measured on 400 runs of 7,600 values: 64 ms a
        run alone, 42 ms a run in groups of 16."""
        if not runs:
            return
        rows = [row for run in runs for row in run.rows]
        rows.sort()  # a row's fields are in the primary key's order
        latest = [row for run in runs for row in run.newest.values()]
        latest.sort(key=_latest_key_order)
        with self._turn(), self._store.engine.begin() as connection:
            run_columns = list(runs[0].run_row)
            connection.exec_driver_sql(
                f"INSERT INTO runs ({', '.join(run_columns)}) "
                f"VALUES ({', '.join('?' * len(run_columns))})",
                [tuple(run.run_row[c] for c in run_columns) for run in runs],
            )
            for table in ("tags", "params"):
                values = [
                    (key, value, run.run_id)
                    for run in runs
                    for key, value in getattr(run, table).items()
                ]
                if not values:  # an empty list of rows is no rows to the driver
                    continue
                connection.exec_driver_sql(
                    f"INSERT INTO {table} (key, value, run_uuid) VALUES (?, ?, ?)", values
                )
            if not rows:  # runs that failed before their first epoch
                return
            columns = ", ".join(COLUMNS)
            connection.exec_driver_sql(f"PRAGMA cache_size = -{CACHE_KIB}")
            connection.exec_driver_sql(self._insert_values, rows)
            connection.exec_driver_sql(
                f"INSERT INTO {self._latest.name} ({columns}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                latest,
            )

    @property
    def database(self) -> str:
        return str(self._store.engine.url.database or "")

    def _turn(self) -> contextlib.AbstractContextManager[None]:
        """vgx's writers of one SQLite file take turns on a lock file: SQLite lets one writer in
        at a time and makes the others poll with growing sleeps (up to 100 ms), time lost
        where two workers record a sweep's runs into one store."""
        return store_lock(Path(self.database), "write")

    def _write_metrics(
        self,
        connection,  # noqa: ANN001 - SQLAlchemy's
        run_id: str,
        rows: list[tuple],
        newest: dict[str, tuple],
    ) -> None:
        """The rows, and the latest-value table where a key's newest value is newer than what
        it holds."""
        from sqlalchemy import select
        from sqlalchemy.dialects.sqlite import insert

        latest = self._latest
        connection.exec_driver_sql(f"PRAGMA cache_size = -{CACHE_KIB}")
        connection.exec_driver_sql(self._insert_values, rows)
        stored = connection.execute(
            select(latest.c.key, latest.c.step, latest.c.timestamp, latest.c.value).where(
                latest.c.run_uuid == run_id, latest.c.key.in_(list(newest))
            )
        ).all()
        for key, step, timestamp, value in stored:
            if (step, timestamp, value) >= _order(newest[key]):
                del newest[key]
        if newest:
            upsert = insert(latest)
            upsert = upsert.on_conflict_do_update(
                index_elements=[latest.c.key, latest.c.run_uuid],
                set_={
                    name: upsert.excluded[name] for name in ("value", "timestamp", "step", "is_nan")
                },
            )
            newest_rows = [dict(zip(COLUMNS, row, strict=True)) for row in newest.values()]
            connection.execute(upsert, newest_rows)


def sql_store(client):  # noqa: ANN001, ANN201 - an MlflowClient; MLflow's SqlAlchemyStore
    """The client's store where it is MLflow's SQL store (its tables can be read and written
    directly), else None (a tracking server, a file store)."""
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    except ImportError:  # pragma: no cover - MLflow without its SQL store
        return None
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    return store if isinstance(store, SqlAlchemyStore) else None


@dataclass
class PreparedRun:
    """A run's rows for MLflow's tables, not yet written."""

    run_id: str
    artifact_uri: str
    run_row: dict
    tags: dict[str, str]
    params: dict[str, str]
    rows: list[tuple]  # metric rows, COLUMNS' order
    newest: dict[str, tuple]  # each key's newest row: the latest-value table


def _latest_key_order(row: tuple) -> tuple:
    return (row[KEY], row[RUN])


def _prepared(run_id: str, metrics: Sequence) -> tuple[list[tuple], dict[str, tuple]]:
    """The metric rows as MLflow stores them, and each key's newest row by MLflow's order."""
    rows = []
    append = rows.append
    for key, value, timestamp, step in metrics:
        if value != value or value in INFINITIES:  # rare: the sanitizing call only then
            is_nan, value = _sanitized(value)
            append((key, timestamp, step, run_id, value, is_nan))
        else:
            append((key, timestamp, step, run_id, value, False))
    newest: dict[str, tuple] = {}
    for row in rows:
        held = newest.get(row[KEY])
        if held is None or _order(row) > _order(held):
            newest[row[KEY]] = row
    return rows, newest


# The columns of MLflow's runs table, all written by write_run.
RUN_COLUMNS = (
    "run_uuid",
    "name",
    "source_type",
    "source_name",
    "entry_point_name",
    "user_id",
    "status",
    "start_time",
    "end_time",
    "deleted_time",
    "source_version",
    "lifecycle_stage",
    "artifact_uri",
    "experiment_id",
)
RUN_NAME_TAG = "mlflow.runName"  # MLflow's create_run adds it where the tags do not have it


# SQLite's page cache for the writing connection: a run's 7,600 rows go into four B-trees, whose
# pages SQLite's 2 MiB default cache cannot hold once the store has a few dozen runs (~2 MB a
# run). Measured on a 400 MB store: bare inserts of a run's rows 106 ms with the default cache,
# 62 ms with 100 MB; this writer's whole write 117 ms before, 82 ms with the driver and 64 MiB.
CACHE_KIB = 65536

# A row's fields, in the order the rows are built: MLflow's column names, those of the metrics
# table's primary key first, in its order, so that rows sort by it as plain tuples (a key
# function cost as much as the rest of a run's preparation).
COLUMNS = ("key", "timestamp", "step", "run_uuid", "value", "is_nan")
KEY, TIMESTAMP, STEP, RUN, VALUE = range(5)


_warned: set[str] = set()


def _warn_once(line: str) -> None:
    import sys

    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr)


def _unrecognised_schema(store) -> str | None:  # noqa: ANN001 - MLflow's SqlAlchemyStore
    """What differs from the tables this writer was checked against (tests compare its rows with
    MLflow's), or None: a table renamed, a column it writes missing from MLflow's model or from
    the file, or a column of a run's own tables it does not know (MLflow would fill it). An
    MLflow release that changes them falls back to MLflow's calls."""
    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )

    expected = {
        "metrics": (SqlMetric, set(COLUMNS), False),
        "latest_metrics": (SqlLatestMetric, set(COLUMNS), False),
        "runs": (SqlRun, set(RUN_COLUMNS), True),
        "tags": (SqlTag, {"key", "value", "run_uuid"}, True),
        "params": (SqlParam, {"key", "value", "run_uuid"}, True),
    }
    for name, (model, columns, exact) in expected.items():
        table = model.__table__
        if table.name != name:
            return f"table {name} is now {table.name}"
        with store.engine.connect() as connection:
            stored = {row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({name})")}
        for where, known in (("MLflow's", set(table.columns.keys())), ("the store's", stored)):
            if not known and where == "the store's":
                continue  # a store MLflow is about to create
            if columns - known:
                return f"{where} {name} has no column {', '.join(sorted(columns - known))}"
            unknown = ", ".join(sorted(known - columns))
            if exact and unknown:
                return f"{where} {name} has columns vgx does not write: {unknown}"
    return None


def _sanitized(value: float) -> tuple[bool, float]:
    """(is NaN, the value SQL stores), as MLflow's SqlAlchemyStore.sanitize_metric_value says:
    NaN as 0 flagged, ±inf as the largest finite double."""
    if value != value:
        return True, 0
    if value in INFINITIES:
        return False, math.copysign(MAX_DOUBLE, value)
    return False, value


MAX_DOUBLE = 1.7976931348623157e308
INFINITIES = (math.inf, -math.inf)


def _order(row: tuple) -> tuple:
    return (row[STEP], row[TIMESTAMP], row[VALUE])
