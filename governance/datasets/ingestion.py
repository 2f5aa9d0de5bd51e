"""Uploading a new version of a dataset: permission, checks, storage and the audit record.

Only the dataset's own stewards may upload (`dataset:ingest` and being assigned to it); the
host operator's CLI (a `System` actor) may too. Every attempt is recorded: success as
`dataset:ingest`/success with the version, rows and SHA-256; a refused file as
`dataset:ingest`/failure with the reason and first problems (written by whoever handles the
error after the rollback, as for every refusal); a permission refusal as denied.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePath
from typing import IO, Any

import pandas as pd
from sqlalchemy.orm import Session

from governance import authz
from governance.audit import service as audit
from governance.audit.models import AuditType, Outcome
from governance.authz import Permission
from governance.datasets import datastore
from governance.datasets.ingest import (
    FORMATS,
    FrameStream,
    IngestionRefused,
    IngestLimits,
    Upload,
    frame_batches,
    open_upload,
)
from governance.datasets.ingest.problems import refuse
from governance.datasets.models import Dataset, DatasetVersion
from governance.datasets.service import get_dataset
from governance.identity.actors import Actor
from governance.identity.models import User
from governance.kernel.errors import PermissionDenied, ServiceUnavailable

log = logging.getLogger(__name__)
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def limits_of(session: Session) -> IngestLimits:
    settings = session.info.get("settings")
    return IngestLimits.from_settings(settings) if isinstance(settings, dict) else IngestLimits()


def clean_filename(raw: str | None) -> str:
    """The upload's own name, for the record: no directories, no control characters."""
    name = CONTROL.sub("", (raw or "").replace("\\", "/").rsplit("/", 1)[-1]).strip()
    return name[:255] or "upload"


def _require_steward(by: Actor, dataset: Dataset) -> None:
    refusal = {
        "event_type": AuditType.DATASET_INGEST,
        "target_type": "dataset",
        "target_id": dataset.id,
        "dataset_id": dataset.id,
    }
    authz.require(by, Permission.DATASET_INGEST, audit=refusal)
    if isinstance(by, User) and by.id not in dataset.steward_ids:
        raise PermissionDenied(
            f"Only the stewards of {dataset.name} may upload its data.",
            clause="dataset-steward",
            audit={**refusal, "rule": "dataset-steward"},
        )


def ingest_upload(
    session: Session,
    *,
    dataset_id: int,
    source: IO[bytes],
    filename: str,
    by: Actor,
    limits: IngestLimits | None = None,
) -> DatasetVersion:
    """Check an uploaded CSV or Parquet file and store it as the dataset's next version."""
    dataset = get_dataset(session, dataset_id)
    _require_steward(by, dataset)
    name = clean_filename(filename)
    limits = limits or limits_of(session)
    try:
        upload = open_upload(source, name, dataset.columns, limits)
    except IngestionRefused as refused:
        fmt = FORMATS.get(PurePath(name).suffix.lower(), "unknown")
        raise _with_audit(refused, dataset, name, fmt) from None
    return _store(session, dataset, upload, name, by)


def ingest_frame(
    session: Session, *, dataset_id: int, frame: pd.DataFrame, source_filename: str, by: Actor
) -> DatasetVersion:
    """Store a data frame as the dataset's next version, with the same checks as an upload
    (the demo world loads its synthetic data this way)."""
    dataset = get_dataset(session, dataset_id)
    _require_steward(by, dataset)
    name = clean_filename(source_filename)
    try:
        upload = Upload("frame", frame_batches(frame, dataset.columns, limits_of(session)))
    except IngestionRefused as refused:
        raise _with_audit(refused, dataset, name, "frame") from None
    return _store(session, dataset, upload, name, by)


class StreamedVersion:
    """The next version of a dataset, written a part at a time (`ingest_stream`)."""

    def __init__(self, writer: datastore.VersionWriter, checks: FrameStream) -> None:
        self._writer = writer
        self._checks = checks
        self.version: DatasetVersion | None = None

    def write(self, frame: pd.DataFrame) -> None:
        """Check this part and encrypt its rows into the version's file at once."""
        for batch in self._checks.batches(frame):
            self._writer.write(batch)

    def complete(self) -> DatasetVersion:
        """Refuse the upload if a part had a problem; else the version (called by
        `ingest_stream` when its block ends)."""
        self._checks.finish()
        self.version = self._writer.finish()
        return self.version


@contextmanager
def ingest_stream(
    session: Session, *, dataset_id: int, source_filename: str, by: Actor
) -> Iterator[StreamedVersion]:
    """Store data frames that arrive one part at a time (a register generated or exported in
    chunks) as the dataset's next version, with the same permission, checks and audit record
    as `ingest_frame`: each part is checked and encrypted into the version's file as it is
    written, so the whole table is never held in memory. The version is stored when the block
    ends; an exception inside it (or a refused part) leaves no file and no version behind."""
    dataset = get_dataset(session, dataset_id)
    _require_steward(by, dataset)
    name = clean_filename(source_filename)
    checks = FrameStream(dataset.columns, limits_of(session))
    try:
        with datastore.VersionWriter(
            session, dataset=dataset, source_filename=name, by=by
        ) as writer:
            stream = StreamedVersion(writer, checks)
            yield stream
            version = stream.complete()
    except IngestionRefused as refused:
        raise _with_audit(refused, dataset, name, "frame") from None
    except OSError as error:
        raise _unwritable(dataset, name, "frame", error) from error
    _record_stored(session, by, dataset, version, name, "frame")


def refuse_oversize(dataset: Dataset, filename: str, limits: IngestLimits) -> IngestionRefused:
    """The refusal of a file known to be too large before it is read (web and CLI)."""
    refused = refuse(
        "file",
        f"it is larger than the {limits.max_upload_label} limit for one "
        "upload; split it or ask an administrator",
    )
    name = clean_filename(filename)
    return _with_audit(
        refused, dataset, name, FORMATS.get(PurePath(name).suffix.lower(), "unknown")
    )


def _store(
    session: Session, dataset: Dataset, upload: Upload, name: str, by: Actor
) -> DatasetVersion:
    try:
        version = datastore.store_version(
            session, dataset=dataset, frame_or_table=upload.batches, source_filename=name, by=by
        )
    except IngestionRefused as refused:
        raise _with_audit(refused, dataset, name, upload.format) from None
    except OSError as error:
        raise _unwritable(dataset, name, upload.format, error) from error
    _record_stored(session, by, dataset, version, name, upload.format)
    return version


def _unwritable(dataset: Dataset, name: str, fmt: str, error: OSError) -> ServiceUnavailable:
    log.exception("storing an upload of dataset %s failed", dataset.id)
    return ServiceUnavailable(
        "The upload could not be written to the data store; nothing was saved. Try "
        "again, and tell an administrator if it keeps happening.",
        audit=_failure(dataset, name, fmt, f"storage failed: {type(error).__name__}"),
    )


def _record_stored(
    session: Session, by: Actor, dataset: Dataset, version: DatasetVersion, name: str, fmt: str
) -> None:
    audit.record(
        session,
        AuditType.DATASET_INGEST,
        by=by,
        dataset_id=dataset.id,
        target_type="dataset_version",
        target_id=version.id,
        detail={
            "version": version.number,
            "rows": version.row_count,
            "sha256": version.sha256,
            "bytes": version.byte_size,
            "source_filename": name,
            "format": fmt,
        },
    )


def _failure(
    dataset: Dataset,
    name: str,
    fmt: str,
    reason: str,
    problems: list[str] | None = None,
    total: int = 0,
) -> dict[str, Any]:
    detail: dict[str, Any] = {"source_filename": name, "format": fmt, "reason": reason}
    if problems is not None:
        detail.update(problems=problems, problem_count=total)
    return {
        "event_type": AuditType.DATASET_INGEST,
        "outcome": Outcome.FAILURE,
        "dataset_id": dataset.id,
        "target_type": "dataset",
        "target_id": dataset.id,
        "detail": detail,
    }


def _with_audit(
    refused: IngestionRefused, dataset: Dataset, name: str, fmt: str
) -> IngestionRefused:
    return refused.recorded_as(
        _failure(
            dataset,
            name,
            fmt,
            refused.message,
            [p.text for p in refused.problems[:5]],
            refused.total,
        )
    )
