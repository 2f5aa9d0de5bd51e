"""Properties of the attachment checks (hypothesis): whatever bytes and names an insider sends,
a file name that passes is a plain name, and content passes only as what it begins as."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.agreements.attachment_checks import (
    FILE_TYPES,
    BadFileName,
    FileType,
    check_upload,
    clean_filename,
)
from governance.kernel.errors import DomainError

LIMIT = 64 * 1024


@given(st.text(max_size=120))
def test_a_name_that_passes_is_a_plain_file_name(raw: str) -> None:
    try:
        name = clean_filename(raw)
    except BadFileName:
        return
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert ".." not in name
    assert not name.startswith(".")
    assert not any(unicodedata.category(c).startswith("C") for c in name)


def outcome(content: bytes, file_type: FileType) -> FileType | int:
    """The checked type, or the status of the refusal."""
    try:
        return check_upload(
            filename="f" + file_type.extensions[0],
            declared=file_type.code,
            content=content,
            max_bytes=LIMIT,
            accepted=FILE_TYPES,
        )
    except DomainError as refused:
        return refused.status


@settings(max_examples=200)
@given(content=st.binary(max_size=2048), code=st.sampled_from(sorted(FILE_TYPES)))
def test_arbitrary_bytes_pass_only_as_what_they_begin_as(content: bytes, code: str) -> None:
    file_type = FILE_TYPES[code]
    result = outcome(content, file_type)
    if isinstance(result, int):
        assert result in {400, 413, 422}
        return
    assert result is file_type
    signatures = {"pdf": b"%PDF-", "png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "docx": b"PK"}
    if code in signatures:
        assert content.startswith(signatures[code])
    else:
        content.decode("utf-8")  # plain text that passed is UTF-8
        assert b"<script" not in content.lower()


@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT * 4])
def test_anything_over_the_limit_is_413(size: int) -> None:
    with pytest.raises(DomainError) as refused:
        check_upload(
            filename="f.txt",
            declared="txt",
            content=b"a" * size,
            max_bytes=LIMIT,
            accepted=FILE_TYPES,
        )
    assert refused.value.status == 413
