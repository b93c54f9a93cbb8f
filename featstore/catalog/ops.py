"""The catalog's domain operations, in the SQL that SQLite and PostgreSQL share.

Every statement here uses ``?`` placeholders (a backend rewrites them for its driver),
``ON CONFLICT`` instead of dialect-specific upserts, and standard ``WITH RECURSIVE``.
Backends implement three primitives; this module is the only place that knows table and
column names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from featstore.errors import CatalogError
from featstore.lineage_ids import NodeKind, has_prefix
from featstore.records.runs import OfflineFile

__all__ = ["ReadOps", "WriteOps"]

Row = tuple[Any, ...]

_FILE_COLUMNS = OfflineFile.COLUMNS  # the files table, in one place
_TRAINING_SET_COLUMNS = ("id", "name", "content_id", "path", "rows", "created_at", "manifest")


def _marks(n: int) -> str:
    return ",".join("?" * n)


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class _Primitives:
    """What a backend provides: run a statement, fetch rows as tuples."""

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def _runmany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None


class ReadOps(_Primitives):
    """Reads: on the catalog (latest committed state) or in a snapshot or transaction."""

    #: how the lineage walk joins its result to ``nodes``: SQLite plans ``CROSS JOIN``
    #: in the written order; PostgreSQL has no ``CROSS JOIN ... ON`` and plans it itself
    _walk_join = "CROSS JOIN"

    # -- definitions -------------------------------------------------------------------

    def current_definition(self, kind: str, name: str) -> str | None:
        """The JSON body of the current version of a definition, or None."""
        row = self._one(
            "SELECT d.body FROM current_definitions c JOIN definitions d "
            "ON d.kind = c.kind AND d.name = c.name AND d.version = c.version "
            "WHERE c.kind = ? AND c.name = ?",
            (kind, name),
        )
        return None if row is None else str(row[0])

    def current_definitions(self, kind: str) -> list[str]:
        """The JSON bodies of the current versions of every definition of a kind, by name."""
        rows = self._rows(
            "SELECT d.body FROM current_definitions c JOIN definitions d "
            "ON d.kind = c.kind AND d.name = c.name AND d.version = c.version "
            "WHERE c.kind = ? ORDER BY c.name",
            (kind,),
        )
        return [str(r[0]) for r in rows]

    def current_names(self, kind: str) -> list[str]:
        """The names with a current definition of a kind, sorted."""
        rows = self._rows(
            "SELECT name FROM current_definitions WHERE kind = ? ORDER BY name", (kind,)
        )
        return [str(r[0]) for r in rows]

    def current_versions(self, kind: str) -> list[tuple[str, str, str]]:
        """``(name, version, applied_at)`` of the current definitions of a kind, by name
        (``applied_at`` moves on every apply, even of an unchanged version)."""
        rows = self._rows(
            "SELECT name, version, applied_at FROM current_definitions WHERE kind = ? "
            "ORDER BY name",
            (kind,),
        )
        return [(str(n), str(v), str(a)) for n, v, a in rows]

    def definition(self, kind: str, name: str, version: str) -> str | None:
        """The JSON body of one version of a definition, or None."""
        row = self._one(
            "SELECT body FROM definitions WHERE kind = ? AND name = ? AND version = ?",
            (kind, name, version),
        )
        return None if row is None else str(row[0])

    def current_definitions_named(self, kind: str, names: Sequence[str]) -> dict[str, str]:
        """The JSON bodies of the current versions of the named definitions of a kind
        (the names that have one), in one query per 500 names."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(names))):
            rows = self._rows(
                "SELECT c.name, d.body FROM current_definitions c JOIN definitions d "
                "ON d.kind = c.kind AND d.name = c.name AND d.version = c.version "
                f"WHERE c.kind = ? AND c.name IN ({_marks(len(chunk))})",
                (kind, *chunk),
            )
            found.update((str(n), str(b)) for n, b in rows)
        return found

    def definitions_versioned(
        self, kind: str, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The JSON bodies of the given ``(name, version)`` definitions that exist."""
        found: dict[tuple[str, str], str] = {}
        wanted = sorted(set(keys))
        for chunk in _chunks(wanted, 250):
            where = " OR ".join(["(name = ? AND version = ?)"] * len(chunk))
            rows = self._rows(
                f"SELECT name, version, body FROM definitions WHERE kind = ? AND ({where})",
                (kind, *[part for key in chunk for part in key]),
            )
            found.update(((str(n), str(v)), str(b)) for n, v, b in rows)
        return found

    def definition_history(self, kind: str, name: str) -> list[tuple[str, str]]:
        """Every applied version of a definition: ``(body, created_at)``, oldest first."""
        rows = self._rows(
            "SELECT body, created_at FROM definitions WHERE kind = ? AND name = ? "
            "ORDER BY created_at, version",
            (kind, name),
        )
        return [(str(b), str(c)) for b, c in rows]

    # -- runs and files ----------------------------------------------------------------

    def run_bodies(self, view: str | None = None) -> list[str]:
        """JSON bodies of materialization runs, newest first, optionally of one view."""
        if view is None:
            rows = self._rows("SELECT body FROM runs ORDER BY finished_at DESC, run_id")
        else:
            rows = self._rows(
                "SELECT body FROM runs WHERE view = ? ORDER BY finished_at DESC, run_id", (view,)
            )
        return [str(r[0]) for r in rows]

    def run_body(self, run_id: str) -> str | None:
        row = self._one("SELECT body FROM runs WHERE run_id = ?", (run_id,))
        return None if row is None else str(row[0])

    def last_run_end(self, view: str, version: str) -> str | None:
        """The latest end of a materialized range of a view version (ISO text), or None."""
        row = self._one(
            "SELECT max(end_ts) FROM runs WHERE view = ? AND view_version = ?", (view, version)
        )
        return None if row is None or row[0] is None else str(row[0])

    def run_span(self, view: str, version: str) -> tuple[str | None, str | None, int]:
        """``(first start, last end, number of runs)`` of a view version."""
        row = self._one(
            "SELECT min(start_ts), max(end_ts), count(*) FROM runs "
            "WHERE view = ? AND view_version = ?",
            (view, version),
        )
        if row is None:
            return None, None, 0
        return row[0], row[1], int(row[2])

    def other_run_versions(self, view: str, version: str) -> list[str]:
        """Versions of a view, other than ``version``, that have runs."""
        rows = self._rows(
            "SELECT DISTINCT view_version FROM runs WHERE view = ? AND view_version <> ? "
            "ORDER BY view_version",
            (view, version),
        )
        return [str(r[0]) for r in rows]

    def run_inputs(self, run_id: str) -> list[dict[str, Any]]:
        """The input fingerprints a run recorded: path, size, mtime_ns, rows, sha256."""
        rows = self._rows(
            "SELECT path, size, mtime_ns, rows, sha256 FROM run_inputs WHERE run_id = ? "
            "ORDER BY path",
            (run_id,),
        )
        keys = ("path", "size", "mtime_ns", "rows", "sha256")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def active_files(
        self,
        view: str,
        version: str,
        *,
        min_ts_at_most: str | None = None,
        max_ts_at_least: str | None = None,
    ) -> list[dict[str, Any]]:
        """The active offline files of a view version, by bucket and path; optionally only
        those whose time range reaches ``[max_ts_at_least, min_ts_at_most]``."""
        sql = (
            f"SELECT {', '.join(_FILE_COLUMNS)} FROM files WHERE view = ? AND "
            f"view_version = ? AND active = 1"
        )
        params: list[Any] = [view, version]
        if min_ts_at_most is not None:
            sql += " AND min_ts <= ?"
            params.append(min_ts_at_most)
        if max_ts_at_least is not None:
            sql += " AND max_ts >= ?"
            params.append(max_ts_at_least)
        rows = self._rows(sql + " ORDER BY bucket, path", params)
        return [dict(zip(_FILE_COLUMNS, r, strict=True)) for r in rows]

    def files(self, paths: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The catalog row of each recorded offline file among ``paths``."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(paths)):
            rows = self._rows(
                f"SELECT {', '.join(_FILE_COLUMNS)} FROM files WHERE path IN ({_marks(len(chunk))})",
                chunk,
            )
            for r in rows:
                found[str(r[0])] = dict(zip(_FILE_COLUMNS, r, strict=True))
        return found

    def file_paths(self, view: str) -> set[str]:
        """Every offline file path the catalog lists for a view (active or not)."""
        return {str(r[0]) for r in self._rows("SELECT path FROM files WHERE view = ?", (view,))}

    # -- training sets -----------------------------------------------------------------

    def training_set(self, ref: str) -> dict[str, Any] | None:
        """A saved training set's row by id, or the newest of that name."""
        columns = ", ".join(_TRAINING_SET_COLUMNS)
        if has_prefix(NodeKind.TRAINING_SET, ref):
            row = self._one(f"SELECT {columns} FROM training_sets WHERE id = ?", (ref,))
        else:
            row = self._one(
                f"SELECT {columns} FROM training_sets WHERE name = ? "
                f"ORDER BY created_at DESC, id DESC LIMIT 1",
                (ref,),
            )
        return None if row is None else dict(zip(_TRAINING_SET_COLUMNS, row, strict=True))

    def training_set_ids(self) -> list[str]:
        return [
            str(r[0]) for r in self._rows("SELECT id FROM training_sets ORDER BY created_at, id")
        ]

    def training_set_names(self) -> list[str]:
        return [
            str(r[0]) for r in self._rows("SELECT DISTINCT name FROM training_sets ORDER BY name")
        ]

    def training_sets(self) -> list[dict[str, Any]]:
        """Every saved training set's row, oldest first."""
        columns = ", ".join(_TRAINING_SET_COLUMNS)
        rows = self._rows(f"SELECT {columns} FROM training_sets ORDER BY created_at, id")
        return [dict(zip(_TRAINING_SET_COLUMNS, r, strict=True)) for r in rows]

    def training_set_paths(self, name: str) -> set[str]:
        return {
            str(r[0]) for r in self._rows("SELECT path FROM training_sets WHERE name = ?", (name,))
        }

    # -- models and aliases ------------------------------------------------------------

    def model_names(self) -> list[str]:
        return [
            str(r[0]) for r in self._rows("SELECT DISTINCT name FROM model_versions ORDER BY name")
        ]

    def model_summaries(self) -> list[tuple[str, int, int]]:
        """``(name, latest version, number of versions)`` per model, by name."""
        rows = self._rows(
            "SELECT name, max(version), count(*) FROM model_versions GROUP BY name ORDER BY name"
        )
        return [(str(n), int(v), int(c)) for n, v, c in rows]

    def model_version_body(self, name: str, version: int | None = None) -> str | None:
        """The JSON body of a model version (the latest when ``version`` is None)."""
        if version is None:
            row = self._one(
                "SELECT body FROM model_versions WHERE name = ? ORDER BY version DESC LIMIT 1",
                (name,),
            )
        else:
            row = self._one(
                "SELECT body FROM model_versions WHERE name = ? AND version = ?", (name, version)
            )
        return None if row is None else str(row[0])

    def model_version_bodies(self, name: str | None = None) -> list[str]:
        """JSON bodies of every version of a model (of all models), by name and version."""
        if name is None:
            rows = self._rows("SELECT body FROM model_versions ORDER BY name, version")
        else:
            rows = self._rows(
                "SELECT body FROM model_versions WHERE name = ? ORDER BY version", (name,)
            )
        return [str(r[0]) for r in rows]

    def alias_events(self, name: str, alias: str) -> list[dict[str, Any]]:
        """The alias's history, oldest first: seq, action, version, at."""
        rows = self._rows(
            "SELECT seq, action, version, at FROM alias_events WHERE name = ? AND alias = ? "
            "ORDER BY seq",
            (name, alias),
        )
        return [
            {"seq": int(s), "action": str(a), "version": int(v), "at": str(t)}
            for s, a, v, t in rows
        ]

    def alias_names(self, name: str) -> list[str]:
        rows = self._rows(
            "SELECT DISTINCT alias FROM alias_events WHERE name = ? ORDER BY alias", (name,)
        )
        return [str(r[0]) for r in rows]

    # -- prediction batches ------------------------------------------------------------

    def prediction_batch_body(self, batch_id: str) -> str | None:
        row = self._one("SELECT body FROM prediction_batches WHERE batch_id = ?", (batch_id,))
        return None if row is None else str(row[0])

    def prediction_batches(self) -> list[dict[str, Any]]:
        """Every prediction batch row, oldest first."""
        keys = ("batch_id", "model", "model_version", "path", "created_at", "body")
        rows = self._rows(
            f"SELECT {', '.join(keys)} FROM prediction_batches ORDER BY created_at, batch_id"
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def prediction_paths(self, model: str) -> set[str]:
        rows = self._rows("SELECT path FROM prediction_batches WHERE model = ?", (model,))
        return {str(r[0]) for r in rows}

    # -- monitoring ------------------------------------------------------------------------

    def statistics_bodies(self, subjects: Sequence[str]) -> dict[str, str]:
        """The recorded statistics (JSON) of each subject among ``subjects`` that has
        them: an offline file's path, a training set's or a prediction batch's id."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(subjects))):
            rows = self._rows(
                f"SELECT subject, body FROM statistics WHERE subject IN ({_marks(len(chunk))})",
                chunk,
            )
            found.update((str(r[0]), str(r[1])) for r in rows)
        return found

    def report_body(self, report_id: str) -> str | None:
        row = self._one("SELECT body FROM reports WHERE id = ?", (report_id,))
        return None if row is None else str(row[0])

    def report_bodies(self, kind: str, subject: str | None = None) -> list[str]:
        """Reports of a kind (``drift``, ``evaluation``, ``skew``), optionally about one
        subject (an evaluation's model), oldest first."""
        if subject is None:
            rows = self._rows(
                "SELECT body FROM reports WHERE kind = ? ORDER BY created_at, id", (kind,)
            )
        else:
            rows = self._rows(
                "SELECT body FROM reports WHERE kind = ? AND subject = ? ORDER BY created_at, id",
                (kind, subject),
            )
        return [str(r[0]) for r in rows]

    def label_batch_bodies(self, model: str | None = None) -> list[str]:
        """Logged label batches (of one model, or all), oldest first."""
        if model is None:
            rows = self._rows("SELECT body FROM label_batches ORDER BY created_at, batch_id")
        else:
            rows = self._rows(
                "SELECT body FROM label_batches WHERE model = ? ORDER BY created_at, batch_id",
                (model,),
            )
        return [str(r[0]) for r in rows]

    def label_paths(self, model: str) -> set[str]:
        rows = self._rows("SELECT path FROM label_batches WHERE model = ?", (model,))
        return {str(r[0]) for r in rows}

    def report_paths(self) -> set[str]:
        rows = self._rows("SELECT path FROM reports WHERE path IS NOT NULL")
        return {str(r[0]) for r in rows}

    # -- lineage -----------------------------------------------------------------------

    def lineage_node(self, node_id: str) -> Row | None:
        """``(id, kind, name, created_at, attrs JSON)`` of a node, or None."""
        return self._one(
            "SELECT id, kind, name, created_at, attrs FROM nodes WHERE id = ?", (node_id,)
        )

    def lineage_ids_like(self, node_id: str, limit: int = 200) -> list[str]:
        """Ids of nodes of the same kind prefix as ``node_id``, or failing that, of nodes
        with its name: candidates for a did-you-mean hint."""
        prefix = node_id.split(":", 1)[0]
        rows = self._rows(
            "SELECT id FROM nodes WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
            (prefix + ":", prefix + ";", limit),
        )
        if not rows:
            name = node_id.split(":", 1)[-1].rsplit("@", 1)[0]
            rows = self._rows(
                "SELECT id FROM nodes WHERE name = ? ORDER BY id LIMIT ?", (name, limit)
            )
        return [str(r[0]) for r in rows]

    def lineage_all_nodes(self) -> list[Row]:
        """Every node: ``(nid, id, kind, name, created_at, attrs JSON)``."""
        return self._rows("SELECT nid, id, kind, name, created_at, attrs FROM nodes")

    def lineage_node_heads(self) -> list[Row]:
        """Every node without its document: ``(nid, id, kind, name)``."""
        return self._rows("SELECT nid, id, kind, name FROM nodes")

    def lineage_size(self) -> tuple[int, int]:
        """How many nodes and edges the lineage has."""
        row = self._one("SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM edges)")
        assert row is not None
        return int(row[0]), int(row[1])

    def lineage_all_edges(self) -> list[Row]:
        """Every edge: ``(src nid, dst nid, kind)``."""
        return self._rows("SELECT src, dst, kind FROM edges")

    def lineage_nodes(self, ids: Iterable[str]) -> list[Row]:
        """``(nid, id, kind, name, created_at, attrs JSON)`` of the recorded nodes among ids."""
        out: list[Row] = []
        for chunk in _chunks(sorted(set(ids))):
            out += self._rows(
                f"SELECT nid, id, kind, name, created_at, attrs FROM nodes "
                f"WHERE id IN ({_marks(len(chunk))})",
                chunk,
            )
        return out

    def lineage_edges_from(self, nids: Iterable[int]) -> list[Row]:
        """``(src, dst, kind)`` of the edges leaving the nodes ``nids``."""
        out: list[Row] = []
        for chunk in _chunks(sorted(set(nids))):
            out += self._rows(
                f"SELECT src, dst, kind FROM edges WHERE src IN ({_marks(len(chunk))})", chunk
            )
        return out

    def lineage_ids_created(self, start: str, end: str) -> list[str]:
        rows = self._rows(
            "SELECT id FROM nodes WHERE created_at >= ? AND created_at < ?", (start, end)
        )
        return [str(r[0]) for r in rows]

    def lineage_ids_of(self, kind: str, name: str) -> list[str]:
        rows = self._rows(
            "SELECT id FROM nodes WHERE kind = ? AND name = ? ORDER BY id", (kind, name)
        )
        return [str(r[0]) for r in rows]

    def lineage_names_of(self, kind: str) -> list[str]:
        rows = self._rows("SELECT DISTINCT name FROM nodes WHERE kind = ? ORDER BY name", (kind,))
        return [str(r[0]) for r in rows]

    def lineage_walk(
        self, node_id: str, *, up: bool, kinds: Sequence[str] | None = None
    ) -> list[Row]:
        """Ancestors (``up``) or descendants of a node, except itself, optionally only of
        some kinds: ``(id, kind, name, created_at, attrs JSON)`` rows, unordered."""
        sql = _walk_sql(up=up, n_kinds=len(kinds or ()), join=self._walk_join)
        return self._rows(sql, (node_id, node_id, *(kinds or ())))

    def lineage_walk_counts(self, node_id: str, *, up: bool) -> dict[str, int]:
        """How many ancestors (``up``) or descendants of each kind a node has."""
        sql = _walk_sql(up=up, n_kinds=0, counts=True, join=self._walk_join)
        rows = self._rows(sql, (node_id, node_id))
        return {str(k): int(n) for k, n in rows}


class WriteOps(ReadOps):
    """Writes, only inside :meth:`Catalog.transaction`."""

    def put_definition(self, kind: str, name: str, version: str, body: str, now: str) -> None:
        """Record a version of a definition (same version: its body is rewritten, which
        repairs a damaged one) and make it the current one."""
        self._run(
            "INSERT INTO definitions (kind, name, version, body, created_at) VALUES (?,?,?,?,?) "
            "ON CONFLICT (kind, name, version) DO UPDATE SET body = excluded.body",
            (kind, name, version, body, now),
        )
        self._run(
            "INSERT INTO current_definitions (kind, name, version, applied_at) VALUES (?,?,?,?) "
            "ON CONFLICT (kind, name) DO UPDATE SET version = excluded.version, "
            "applied_at = excluded.applied_at",
            (kind, name, version, now),
        )

    def add_run(
        self,
        *,
        run_id: str,
        view: str,
        view_version: str,
        start_ts: str,
        end_ts: str,
        rows: int,
        started_at: str,
        finished_at: str,
        body: str,
    ) -> None:
        self._run(
            "INSERT INTO runs (run_id, view, view_version, start_ts, end_ts, rows, started_at, "
            "finished_at, body) VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, view, view_version, start_ts, end_ts, rows, started_at, finished_at, body),
        )

    def supersede_bucket(self, view: str, version: str, bucket: str, now: str) -> None:
        """Withdraw the active files of one bucket of a view version."""
        self._run(
            "UPDATE files SET active = 0, superseded_at = ? WHERE view = ? AND view_version = ? "
            "AND bucket = ? AND active = 1",
            (now, view, version, bucket),
        )

    def add_file(
        self,
        *,
        path: str,
        view: str,
        view_version: str,
        bucket: str,
        min_ts: str | None,
        max_ts: str | None,
        rows: int,
        bytes: int,
        run_id: str,
        mtime_ns: int | None,
        sha256: str | None,
    ) -> None:
        """Publish an offline file (active)."""
        self._run(
            "INSERT INTO files (path, view, view_version, bucket, min_ts, max_ts, rows, bytes, "
            "run_id, active, mtime_ns, sha256) VALUES (?,?,?,?,?,?,?,?,?,1,?,?)",
            (
                path,
                view,
                view_version,
                bucket,
                min_ts,
                max_ts,
                rows,
                bytes,
                run_id,
                mtime_ns,
                sha256,
            ),
        )

    def add_run_inputs(self, run_id: str, inputs: Sequence[Sequence[Any]]) -> None:
        """Input fingerprints ``(path, size, mtime_ns, rows, sha256)`` read by a run."""
        self._runmany(
            "INSERT INTO run_inputs (run_id, path, size, mtime_ns, rows, sha256) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, "
            "mtime_ns = excluded.mtime_ns, rows = excluded.rows, sha256 = excluded.sha256",
            [(run_id, *i) for i in inputs],
        )

    def delete_superseded_files(self, view: str, before: str) -> None:
        """Forget files of a view superseded before ``before`` (ISO text)."""
        self._run(
            "DELETE FROM statistics WHERE subject IN (SELECT path FROM files WHERE view = ? "
            "AND active = 0 AND superseded_at < ?)",
            (view, before),
        )
        self._run(
            "DELETE FROM files WHERE view = ? AND active = 0 AND superseded_at < ?", (view, before)
        )

    def add_training_set(
        self,
        *,
        id: str,
        name: str,
        content_id: str,
        path: str,
        rows: int,
        created_at: str,
        manifest: dict[str, Any],
    ) -> bool:
        """Record a saved training set; False (nothing written) when its id exists."""
        if self._one("SELECT 1 FROM training_sets WHERE id = ?", (id,)) is not None:
            return False
        self._run(
            "INSERT INTO training_sets (id, name, content_id, path, rows, created_at, manifest) "
            "VALUES (?,?,?,?,?,?,?)",
            (id, name, content_id, path, rows, created_at, json.dumps(manifest, sort_keys=True)),
        )
        return True

    def set_training_set_manifest(self, id: str, manifest: dict[str, Any]) -> None:
        self._run(
            "UPDATE training_sets SET manifest = ? WHERE id = ?",
            (json.dumps(manifest, sort_keys=True), id),
        )

    def next_model_version(self, name: str) -> int:
        """The next version number of a model. Race-free: transactions are serialised, so
        no other writer can take the same number before this one commits."""
        row = self._one(
            "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?", (name,)
        )
        return int(row[0]) if row else 1

    def add_model_version(
        self, name: str, version: int, training_set: str | None, created_at: str, body: str
    ) -> None:
        self._run(
            "INSERT INTO model_versions (name, version, training_set, created_at, body) "
            "VALUES (?,?,?,?,?)",
            (name, version, training_set, created_at, body),
        )

    def add_alias_event(self, name: str, alias: str, action: str, version: int, at: str) -> None:
        self._run(
            "INSERT INTO alias_events (name, alias, action, version, at) VALUES (?,?,?,?,?)",
            (name, alias, action, int(version), at),
        )

    def add_prediction_batch(
        self,
        *,
        batch_id: str,
        model: str,
        model_version: int,
        path: str,
        rows: int,
        created_at: str,
        body: str,
    ) -> None:
        self._run(
            "INSERT INTO prediction_batches (batch_id, model, model_version, path, rows, "
            "created_at, body) VALUES (?,?,?,?,?,?,?)",
            (batch_id, model, model_version, path, rows, created_at, body),
        )

    def add_statistics(self, subject: str, kind: str, body: str) -> None:
        """Record (or replace) the statistics of a subject."""
        self._run(
            "INSERT INTO statistics (subject, kind, body) VALUES (?,?,?) "
            "ON CONFLICT (subject) DO UPDATE SET kind = excluded.kind, body = excluded.body",
            (subject, kind, body),
        )

    def add_report(
        self,
        *,
        id: str,
        kind: str,
        subject: str | None,
        created_at: str,
        body: str,
        path: str | None = None,
    ) -> bool:
        """Record a report; False (nothing written) when its id exists."""
        if self._one("SELECT 1 FROM reports WHERE id = ?", (id,)) is not None:
            return False
        self._run(
            "INSERT INTO reports (id, kind, subject, created_at, path, body) VALUES (?,?,?,?,?,?)",
            (id, kind, subject, created_at, path, body),
        )
        return True

    def add_label_batch(
        self, *, batch_id: str, model: str, path: str, rows: int, created_at: str, body: str
    ) -> None:
        self._run(
            "INSERT INTO label_batches (batch_id, model, path, rows, created_at, body) "
            "VALUES (?,?,?,?,?,?)",
            (batch_id, model, path, rows, created_at, body),
        )

    def add_node(self, node_id: str, kind: str, name: str, at: str, attrs: dict[str, Any]) -> None:
        """Record a lineage node (idempotent: an existing id keeps its first record)."""
        self._run(
            "INSERT INTO nodes (id, kind, name, created_at, attrs) VALUES (?,?,?,?,?) "
            "ON CONFLICT (id) DO NOTHING",
            (node_id, kind, name, at, json.dumps(attrs, sort_keys=True, default=str)),
        )

    def add_edges(self, edges: Sequence[tuple[str, str, str]]) -> None:
        """Record lineage edges ``(upstream, downstream, kind)`` between recorded nodes."""
        ends = {end for src, dst, _ in edges for end in (src, dst)}
        nids = self.node_ids(ends)
        missing = sorted(ends - nids.keys())
        if missing:
            raise CatalogError(
                f"lineage edge to unrecorded node {missing[0]!r}: record nodes before edges"
            )
        self._runmany(
            "INSERT INTO edges (src, dst, kind) VALUES (?,?,?) "
            "ON CONFLICT (src, dst, kind) DO NOTHING",
            sorted({(nids[src], nids[dst], kind) for src, dst, kind in edges}),
        )

    def node_ids(self, ids: Iterable[str]) -> dict[str, int]:
        """The integer ``nid`` of each recorded node among ``ids``."""
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(ids))):
            rows = self._rows(
                f"SELECT id, nid FROM nodes WHERE id IN ({_marks(len(chunk))})", chunk
            )
            found.update((str(r[0]), int(r[1])) for r in rows)
        return found


def _walk_sql(*, up: bool, n_kinds: int, join: str, counts: bool = False) -> str:
    """Ancestors (``up``) or descendants of the node whose id is the first and second
    parameter, except itself, optionally only the kinds given as the next parameters; with
    ``counts``, how many of each kind. The walk compares integer nids over the covering
    edge indexes; ``join`` is the backend's (see ``ReadOps._walk_join``)."""
    step = (
        "SELECT e.src FROM edges e JOIN walk w ON e.dst = w.nid"
        if up
        else "SELECT e.dst FROM edges e JOIN walk w ON e.src = w.nid"
    )
    where = "n.id <> ?"
    if n_kinds:
        where += f" AND n.kind IN ({_marks(n_kinds)})"
    columns = "n.kind, count(*)" if counts else "n.id, n.kind, n.name, n.created_at, n.attrs"
    return (
        f"WITH RECURSIVE walk(nid) AS (SELECT nid FROM nodes WHERE id = ? UNION {step}) "
        f"SELECT {columns} FROM walk {join} nodes n ON n.nid = walk.nid WHERE {where}"
        + (" GROUP BY n.kind" if counts else "")
    )
