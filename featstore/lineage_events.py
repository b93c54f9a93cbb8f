"""Live OpenLineage emission: the :class:`Emitter` the store's operations call.

The default emitter sends nothing. With a transport configured (``"openlineage":
{"transport": {...}}`` in ``featstore.json``, or ``FeatureStore(path, openlineage=...)``)
it sends the events of :mod:`featstore.lineage_export.openlineage` through the official
client (``featstore[openlineage]``): START before and COMPLETE or FAIL after each
materialization run, and START and COMPLETE once a training set is saved, a model version
registered or a prediction batch logged. Sending never fails the operation: a failure is
an :class:`OpenLineageWarning` and the operation's result stands.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from featstore.catalog import Catalog
from featstore.config import StoreConfig, check_openlineage
from featstore.errors import ConfigError
from featstore.timeutil import iso, utc_now

__all__ = ["Emitter", "OpenLineageWarning", "default_namespace", "store_emitter"]

T = TypeVar("T")


class OpenLineageWarning(UserWarning):
    """OpenLineage events could not be built or sent; the operation itself succeeded."""


def default_namespace(path: Path) -> str:
    """A store's OpenLineage namespace when none is configured: ``featstore://`` and the
    store directory's name (the same wherever the directory is mounted)."""
    return f"featstore://{path.name or 'featstore'}"


class Emitter:
    """Sends a store's OpenLineage events as its operations happen.

    ``transport`` is the OpenLineage client's transport config (None: send nothing);
    the client is built on first use. Events are read from ``catalog`` (set when the
    store has opened it).
    Every method returns at once when there is nothing to send, and swallows (as an
    :class:`OpenLineageWarning`) any failure to build or send.
    """

    def __init__(
        self,
        namespace: str,
        *,
        catalog: Catalog | None = None,
        transport: Mapping[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.namespace = namespace
        self._transport = dict(transport) if transport is not None else None
        self._client: Any = None

    @property
    def enabled(self) -> bool:
        """Whether events are sent."""
        return self.catalog is not None and self._transport is not None

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                from openlineage.client import OpenLineageClient
            except ImportError as exc:
                raise ConfigError(
                    "an OpenLineage transport is configured but openlineage-python is not "
                    "installed: pip install 'featstore[openlineage]'"
                ) from exc
            self._client = OpenLineageClient(config={"transport": dict(self._transport or {})})
        return self._client

    def _send(self, what: str, build: Callable[[Any], Iterable[dict[str, Any]]]) -> None:
        if not self.enabled:
            return
        try:
            from featstore.lineage_export import _typed
            from featstore.lineage_export.openlineage import EventBuilder

            assert self.catalog is not None  # enabled
            client = self._get_client()
            for event in build(EventBuilder(self.catalog, self.namespace)):
                client.emit(_typed.typed_event(event))
        except Exception as exc:
            warnings.warn(
                f"OpenLineage: the events of {what} were not sent ({type(exc).__name__}: "
                f"{exc}); the operation itself succeeded. Check the 'openlineage' "
                f"transport in featstore.json or FeatureStore(openlineage=...)",
                OpenLineageWarning,
                stacklevel=4,
            )

    # -- materialization -----------------------------------------------------------------

    def materialization_started(self, jobs: Sequence[Any]) -> None:
        """START events of jobs (``featstore.materialize.ViewJob``) about to run."""
        at = iso(utc_now())
        self._send(
            "the materialization of " + ", ".join(repr(j.view.name) for j in jobs),
            lambda b: [
                b.materialization_start(
                    j.view.name, j.view.version, j.run_id, iso(j.start), iso(j.end), at
                )
                for j in jobs
            ],
        )

    def materialization_finished(self, runs: Sequence[Any]) -> None:
        """COMPLETE events of committed runs (read back from the catalog)."""
        self._send(
            "the materialization of " + ", ".join(repr(r.view) for r in runs),
            lambda b: [
                e
                for r in runs
                for e in b.run_events(self._run_body(r.run_id))
                if e["eventType"] == "COMPLETE"
            ],
        )

    def _run_body(self, run_id: str) -> dict[str, Any]:
        import json

        assert self.catalog is not None
        body = self.catalog.run_body(run_id)
        if body is None:
            raise LookupError(f"run {run_id!r} is not in the catalog")
        result: dict[str, Any] = json.loads(body)
        return result

    def materialization_failed(self, jobs: Sequence[Any], error: BaseException) -> None:
        """FAIL events of jobs whose materialization raised (nothing was recorded)."""
        at = iso(utc_now())
        message = f"{type(error).__name__}: {error}"
        self._send(
            "the failed materialization of " + ", ".join(repr(j.view.name) for j in jobs),
            lambda b: [
                b.materialization_fail(
                    j.view.name, j.view.version, j.run_id, iso(j.start), iso(j.end), at, message
                )
                for j in jobs
            ],
        )

    # -- training sets, models, predictions ----------------------------------------------

    def training_set_saved(self, training_set: T) -> T:
        """START and COMPLETE of a saved training set; returns it."""
        if self.enabled:
            ts_id = str(getattr(training_set, "id", ""))
            self._send(f"training set {ts_id!r}", lambda b: self._training_set_events(b, ts_id))
        return training_set

    def _training_set_events(self, builder: Any, ts_id: str) -> list[dict[str, Any]]:
        assert self.catalog is not None
        row = self.catalog.training_set(ts_id)
        if row is None:
            raise LookupError(f"training set {ts_id!r} is not in the catalog")
        events: list[dict[str, Any]] = builder.training_set_events(row)
        return events

    def model_registered(self, model: T) -> T:
        """START and COMPLETE of a registered model version; returns it."""
        if not self.enabled:
            return model
        name, version = str(getattr(model, "name", "")), int(getattr(model, "version", 0))

        def build(b: Any) -> list[dict[str, Any]]:
            import json

            assert self.catalog is not None
            body = self.catalog.model_version_body(name, version)
            if body is None:
                raise LookupError(f"model {name!r} version {version} is not in the catalog")
            events: list[dict[str, Any]] = b.model_events(json.loads(body))
            return events

        self._send(f"model {name!r} version {version}", build)
        return model

    def predictions_logged(self, batch: T) -> T:
        """START and COMPLETE of a logged prediction batch; returns it."""
        if not self.enabled:
            return batch
        batch_id = str(getattr(batch, "batch_id", ""))

        def build(b: Any) -> list[dict[str, Any]]:
            import json

            assert self.catalog is not None
            body = self.catalog.prediction_batch_body(batch_id)
            if body is None:
                raise LookupError(f"prediction batch {batch_id!r} is not in the catalog")
            events: list[dict[str, Any]] = b.prediction_events(json.loads(body))
            return events

        self._send(f"prediction batch {batch_id!r}", build)
        return batch


def store_emitter(path: Path, openlineage: Mapping[str, Any] | None = None) -> Emitter:
    """The emitter of the store at ``path``: ``featstore.json``'s ``"openlineage"``
    config, with the keys of ``openlineage`` (``FeatureStore(openlineage=...)``) over it.
    ConfigError if either is not a usable config. Called before the store is opened (a
    bad option creates nothing); the store sets its ``catalog`` once it is open."""
    found = StoreConfig.read(path)
    config: dict[str, Any] = dict(found.openlineage or {}) if found is not None else {}
    if openlineage is not None:
        try:
            config.update(check_openlineage(dict(openlineage), "openlineage="))
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"FeatureStore({str(path)!r}, openlineage=...): {exc}; see docs/openlineage.md"
            ) from None
    namespace = str(config.get("namespace") or default_namespace(path))
    return Emitter(namespace, transport=config.get("transport"))
