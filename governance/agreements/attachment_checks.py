"""What an uploaded attachment must be before anything is stored: a plain file name, a size
within the limit, a declared type the service accepts, and content that is what it claims.

There is no virus scanner here; what can be checked is checked. The content must begin with
its type's signature (a "PDF" that is really an HTML page is refused), a PDF must open with
pypdf and have a page, a DOCX must be a well-formed ZIP holding a Word document whose
expansion stays bounded (a zip bomb is refused before it is expanded), and plain text must be
UTF-8 without control bytes or markup a browser would run. Each refusal raises the error the
web maps to its status (400 bad name, 413 too large, 422 wrong content) before any write.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass

from governance.kernel.errors import DomainError, TooLarge, ValidationFailed
from governance.kernel.pdf_files import pdf_problem


@dataclass(frozen=True)
class FileType:
    code: str
    content_type: str
    extensions: tuple[str, ...]
    label: str


FILE_TYPES = {
    t.code: t
    for t in (
        FileType("pdf", "application/pdf", (".pdf",), "PDF"),
        FileType("png", "image/png", (".png",), "PNG image"),
        FileType("jpeg", "image/jpeg", (".jpg", ".jpeg"), "JPEG image"),
        FileType(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            (".docx",),
            "Word document (DOCX)",
        ),
        FileType("txt", "text/plain", (".txt",), "plain text"),
    )
}

_SIGNATURES = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "docx": (b"PK\x03\x04",),
}
# A DOCX expands to at most this much, and this many times its compressed size: a Word
# document of text and scans stays far below both, a zip bomb does not.
DOCX_MAX_EXPANDED = 100 * 1024 * 1024
DOCX_MAX_RATIO = 100
DOCX_MAX_ENTRIES = 2_000
_MARKUP = re.compile(rb"<\s*(script|html|iframe|object|embed|svg)\b", re.IGNORECASE)


class BadFileName(DomainError):
    """A file name that is a path, hidden, empty or carries control characters."""

    status = 400


def clean_filename(raw: str) -> str:
    """The name as given, if it is a plain file name; a path or anything odd is refused."""
    name = unicodedata.normalize("NFC", raw or "").strip()
    if not name:
        raise BadFileName("The file has no name.")
    if (
        "/" in name
        or "\\" in name
        or ".." in name
        or name.startswith(".")
        or len(name) > 200
        or any(unicodedata.category(c).startswith("C") for c in name)
    ):
        raise BadFileName(
            f"{name[:80]!r} is not a plain file name: send the file under a name without "
            "folders, leading dots or control characters."
        )
    return name


def allowed_types(setting: str) -> dict[str, FileType]:
    """The types ATTACHMENT_TYPES accepts (comma-separated codes among FILE_TYPES)."""
    codes = [code.strip().lower() for code in setting.split(",") if code.strip()]
    return {code: FILE_TYPES[code] for code in codes if code in FILE_TYPES}


def check_upload(
    *, filename: str, declared: str, content: bytes, max_bytes: int, accepted: dict[str, FileType]
) -> FileType:
    """The checked file type of an upload, or the refusal that says what is wrong."""
    name = clean_filename(filename)
    if len(content) > max_bytes:
        raise TooLarge(
            f"The file is {len(content):,} bytes; attachments are limited to {max_bytes:,}."
        )
    if not content:
        raise ValidationFailed("The file is empty.", {"file": "The file is empty."})
    file_type = accepted.get(declared.strip().lower()) or next(
        (t for t in accepted.values() if t.content_type == declared.strip().lower()), None
    )
    if file_type is None:
        labels = ", ".join(t.label for t in accepted.values())
        raise ValidationFailed(
            f"{declared!r} is not a type accepted here ({labels}).",
            {"file_type": f"Choose one of: {labels}."},
        )
    if not name.lower().endswith(file_type.extensions):
        raise ValidationFailed(
            f"{name!r} does not end in {' or '.join(file_type.extensions)}.",
            {"file": f"A {file_type.label} is named *{file_type.extensions[0]}."},
        )
    _check_content(file_type, content)
    return file_type


def _refuse(file_type: FileType, why: str) -> ValidationFailed:
    return ValidationFailed(
        f"The file is declared as {file_type.label} but {why}.",
        {"file": f"The content is not a valid {file_type.label}: {why}."},
    )


def _check_content(file_type: FileType, content: bytes) -> None:
    signatures = _SIGNATURES.get(file_type.code)
    if signatures and not content.startswith(signatures):
        raise _refuse(file_type, "its content does not begin as one does")
    if file_type.code == "pdf":
        _check_pdf(file_type, content)
    elif file_type.code == "docx":
        _check_docx(file_type, content)
    elif file_type.code == "txt":
        _check_text(file_type, content)


def _check_pdf(file_type: FileType, content: bytes) -> None:
    problem = pdf_problem(content)
    if problem is not None:
        raise _refuse(file_type, problem)


def _check_docx(file_type: FileType, content: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            entries = archive.infolist()
            if len(entries) > DOCX_MAX_ENTRIES:
                raise _refuse(file_type, f"it holds more than {DOCX_MAX_ENTRIES} parts")
            expanded = sum(entry.file_size for entry in entries)
            if expanded > DOCX_MAX_EXPANDED or expanded > DOCX_MAX_RATIO * max(len(content), 1):
                raise _refuse(file_type, "it would expand far beyond its size (a zip bomb)")
            names = {entry.filename for entry in entries}
            if not {"[Content_Types].xml", "word/document.xml"} <= names:
                raise _refuse(file_type, "it holds no Word document")
            if any(n.startswith("/") or ".." in n.split("/") for n in names):
                raise _refuse(file_type, "it holds parts with paths outside the document")
            # Reading the main part checks its CRC; its declared size was bounded above.
            archive.read("word/document.xml")
    except ValidationFailed:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise _refuse(file_type, f"it is not a readable ZIP ({type(error).__name__})") from error


def _check_text(file_type: FileType, content: bytes) -> None:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _refuse(file_type, "it is not UTF-8 text") from error
    if any(unicodedata.category(c) == "Cc" and c not in "\r\n\t\f" for c in text):
        raise _refuse(file_type, "it holds control bytes")
    if _MARKUP.search(content):
        raise _refuse(file_type, "it holds HTML or script markup")
