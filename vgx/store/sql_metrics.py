"""Metric values straight into MLflow's SQL tables, for the embedded SQLite store.

MLflow's `log_batch` builds one ORM object per value and updates the latest-value table through
the ORM: ~0.25 ms a value, ~2 s for one default run's 7,600 values, the largest single cost of a
run (README, Performance). The same rows written with two bulk statements take a few
milliseconds. The tables are MLflow's own SQLAlchemy models, so the rows are exactly what
`log_batch` writes (tested against it); other stores keep using `log_batch`.
"""

from __future__ import annotations

from collections.abc import Sequence


class SqliteMetricWriter:
    """Bulk-inserts metric values into an SQLite-backed MLflow store."""

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
        try:
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            store = client._tracking_client.store
        except (ImportError, AttributeError):
            return None
        if not isinstance(store, SqlAlchemyStore) or store.engine.dialect.name != "sqlite":
            return None
        unknown = _unrecognised_schema(store)
        if unknown:
            _warn_once(
                f"vgx: warning: MLflow's metric tables are not as vgx knows them ({unknown}); "
                "writing metrics through MLflow's log_batch (slower, same values)"
            )
            return None
        return cls(store)

    def write(self, run_id: str, metrics: Sequence) -> None:  # mlflow.entities.Metric
        """One transaction: every value (a value already stored is skipped, as MLflow does), and
        each key's newest value by (step, timestamp, value), MLflow's order."""
        from sqlalchemy import select
        from sqlalchemy.dialects.sqlite import insert

        sanitize = self._store.sanitize_metric_value
        rows = []
        for metric in metrics:
            is_nan, value = sanitize(metric.value)
            rows.append((run_id, metric.key, value, metric.timestamp, metric.step, is_nan))
        if not rows:
            return
        newest: dict[str, tuple] = {}
        for row in rows:
            held = newest.get(row[KEY])
            if held is None or _order(row) > _order(held):
                newest[row[KEY]] = row
        latest = self._latest
        with self._store.engine.begin() as connection:
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
                        name: upsert.excluded[name]
                        for name in ("value", "timestamp", "step", "is_nan")
                    },
                )
                newest_rows = [dict(zip(COLUMNS, row, strict=True)) for row in newest.values()]
                connection.execute(upsert, newest_rows)


# SQLite's page cache for the writing connection: a run's 7,600 rows go into four B-trees, whose
# pages SQLite's 2 MiB default cache cannot hold once the store has a few dozen runs (~2 MB a
# run). Measured on a 400 MB store: bare inserts of a run's rows 106 ms with the default cache,
# 62 ms with 100 MB; this writer's whole write 117 ms before, 82 ms with the driver and 64 MiB.
CACHE_KIB = 65536

# A row's fields, in the order the rows are built: MLflow's column names.
COLUMNS = ("run_uuid", "key", "value", "timestamp", "step", "is_nan")
KEY, VALUE, TIMESTAMP, STEP = 1, 2, 3, 4


_warned: set[str] = set()


def _warn_once(line: str) -> None:
    import sys

    if line not in _warned:
        _warned.add(line)
        print(line, file=sys.stderr)


def _unrecognised_schema(store) -> str | None:  # noqa: ANN001 - MLflow's SqlAlchemyStore
    """What differs from the tables this writer was checked against (tests compare its rows with
    log_batch's), or None: a column it writes missing from MLflow's model or from the file, or
    a table renamed. An MLflow release that changes them falls back to log_batch."""
    from mlflow.store.tracking.dbmodels.models import SqlLatestMetric, SqlMetric

    for model, expected in ((SqlMetric, "metrics"), (SqlLatestMetric, "latest_metrics")):
        table = model.__table__
        if table.name != expected:
            return f"table {expected} is now {table.name}"
        missing = set(COLUMNS) - set(table.columns.keys())
        if missing:
            return f"{expected} has no column {', '.join(sorted(missing))}"
        with store.engine.connect() as connection:
            stored = {
                row[1] for row in connection.exec_driver_sql(f"PRAGMA table_info({expected})")
            }
        if stored and set(COLUMNS) - stored:
            return (
                f"the store's {expected} has no column {', '.join(sorted(set(COLUMNS) - stored))}"
            )
    return None


def _order(row: tuple) -> tuple:
    return (row[STEP], row[TIMESTAMP], row[VALUE])
