"""Agreement attachments: stored encrypted like dataset versions, read back whole.

An attachment (a signed agreement, an ethics letter, a data management plan, a destruction
attestation) may name people and carries the partner's terms, so it gets the same protection
as data: AES-256-GCM under a random key of its own, wrapped by the data key in its row
(envelope.py) and deleted when the agreement's data is destroyed, every chunk bound to the
attachment. The binding uses `ATTACHMENT_DOMAIN` in place of a dataset id (no dataset or
cohort has it), so an attachment can never pass for another stored file. Files live in
DATA_DIR/attachments/.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os

from sqlalchemy.orm import Session, object_session

from governance.datasets.attachment_model import Attachment
from governance.datasets.datastore import envelope, files
from governance.datasets.datastore.crypto import Binding, DataIntegrityError, EncryptingWriter
from governance.datasets.datastore.store import DataUnavailable, open_file
from governance.kernel.types import utcnow

ATTACHMENT_DOMAIN = 2**63 + 1


def binding_of(attachment: Attachment) -> Binding:
    return Binding(ATTACHMENT_DOMAIN, attachment.id)


def store_document(session: Session, *, attachment: Attachment, content: bytes) -> Attachment:
    """Encrypt `content` as the attachment's file; the row is added and flushed (its id binds
    the file) and completed with the SHA-256 of the content. The file is removed again if the
    transaction does not commit, so a refused or failed upload leaves nothing behind."""
    config = files.config_of(session)
    attachment.storage_name = files.new_storage_name()
    session.add(attachment)
    session.flush()
    directory = config.attachment_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = config.attachment_path_of(attachment.storage_name)
    partial = directory / f".{attachment.storage_name}{files.PARTIAL}"
    file_key = envelope.new_file_key(config.ring, binding_of(attachment))
    try:
        with files.create_exclusive(partial) as out:
            sink = EncryptingWriter(
                out, file_key.key, binding_of(attachment), file_id=file_key.file_id
            )
            sink.write(content)
            sink.finish()
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        files.fsync_dir(directory)
    except BaseException:
        files.remove_quietly(partial)
        files.remove_quietly(final)
        raise
    files.track_pending(session, final)
    if sink.sha256 != attachment.sha256:
        raise DataIntegrityError("The stored attachment does not match the uploaded content.")
    file_key.record_on(attachment)
    return attachment


def read_document(attachment: Attachment) -> bytes:
    """Decrypt the attachment and return its content, after checking its SHA-256."""
    session = object_session(attachment)
    if session is None:
        raise RuntimeError("read the attachment through a session")
    if attachment.destroyed_at is not None:
        raise DataUnavailable(
            f"Attachment {attachment.id} was destroyed on {attachment.destroyed_at:%Y-%m-%d}."
        )
    config = files.config_of(session)
    with open_file(
        config,
        config.attachment_path_of(attachment.storage_name),
        attachment,
        binding_of(attachment),
    ) as reader:
        content = reader.readall()
    if hashlib.sha256(content).hexdigest() != attachment.sha256:
        raise DataIntegrityError(f"Attachment {attachment.id} does not match its SHA-256.")
    return content


def destroy_document(attachment: Attachment, *, now: dt.datetime | None = None) -> bool:
    """Delete the attachment's file key (every copy of its file becomes unreadable) and its
    file; True if there was a file to delete. The caller records the destruction, with
    `envelope.fingerprint(attachment)` taken before, in the same transaction."""
    session = object_session(attachment)
    if session is None:
        raise RuntimeError("destroy the attachment through a session")
    path = files.config_of(session).attachment_path_of(attachment.storage_name)
    return files.shred(attachment, path, now=now or utcnow())


def attachment_key_fingerprint(attachment: Attachment) -> str | None:
    return envelope.fingerprint(attachment)
