"""ml_core.archives.ZipReader: hostile zips are refused, naming the member and the
limit, without inflating more than a member declares; honest zips read whole."""

import bz2
import gzip
import io
import tracemalloc
import zipfile
import zlib

import pytest

from harness.hostile_inputs import (
    RawMember,
    _flag_encrypted,
    _zip,
    bzip2_bomb,
    lying_size_zip,
    lzma_bomb,
    many_entries_zip,
    raw_zip,
    valid_png,
)
from ml_core.archives import ArchiveError, ZipLimits, ZipReader

LIMITS = ZipLimits(max_members=100, max_member_bytes=1024 * 1024, max_total_bytes=4 * 1024 * 1024)
TEXT = b"twenty bytes of text" * 50  # 1000 bytes


def reader_for(archive: bytes, limits: ZipLimits = LIMITS) -> ZipReader:
    return ZipReader(io.BytesIO(archive), limits, label="upload.zip")


def read_all(archive: bytes, limits: ZipLimits = LIMITS) -> dict[str, bytes]:
    reader = reader_for(archive, limits)
    return {member.name: reader.read(member) for member in reader.members}


def deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_stored_and_deflated_members_are_read_whole_skipping_folders_and_hidden_files():
    png = valid_png()
    archive = _zip(
        {"cat/a.png": png, "b.txt": TEXT, "__MACOSX/._a.png": b"x", "cat/.DS_Store": b""}
    )
    stored = _zip({"cat/a.png": png}, zipfile.ZIP_STORED)
    assert read_all(archive) == {"cat/a.png": png, "b.txt": TEXT}
    assert read_all(stored) == {"cat/a.png": png}


def test_a_member_inflating_past_its_declared_size_is_refused_without_inflating_it():
    """400 MB of deflate declared as 10 bytes, with the CRC of 10 zero bytes (a reader
    that stops at the declared size and checks the CRC accepts it)."""
    archive = lying_size_zip()
    assert len(archive) < 1024 * 1024
    reader = reader_for(archive)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match="cat/bomb.png inflates to more than the 10 bytes"):
            reader.read(reader.members[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024, f"{peak} bytes allocated while refusing it"


def test_a_member_smaller_than_declared_is_refused():
    archive = raw_zip([RawMember("cat/a.txt", deflated(TEXT), 8, 5000, zlib.crc32(TEXT))])
    reader = reader_for(archive)
    with pytest.raises(ArchiveError, match="cat/a.txt holds 1000 bytes but declares 5000"):
        reader.read(reader.members[0])


def test_a_stored_member_whose_sizes_disagree_is_refused_when_opened():
    archive = raw_zip([RawMember("cat/a.txt", TEXT, 0, 10, zlib.crc32(TEXT[:10]))])
    with pytest.raises(ArchiveError, match="cat/a.txt: stored, but its two declared sizes differ"):
        reader_for(archive)


@pytest.mark.parametrize(
    ("archive", "method"),
    [(bzip2_bomb(64 * 1024 * 1024), "bzip2"), (lzma_bomb(16 * 1024 * 1024), "LZMA")],
    ids=["bzip2", "lzma"],
)
def test_bzip2_and_lzma_members_are_refused_by_their_method(archive, method):
    with pytest.raises(ArchiveError, match=f"cat/bomb.png is compressed with {method}; only"):
        reader_for(archive, ZipLimits(100, 1024**3, 1024**3))


def test_an_encrypted_member_is_refused():
    with pytest.raises(ArchiveError, match="cat/a.png is encrypted"):
        reader_for(_flag_encrypted(_zip({"cat/a.png": valid_png()})))


def test_more_files_than_the_limit_are_refused_naming_it():
    archive = _zip({f"cat/{index}.png": b"x" for index in range(101)})
    with pytest.raises(ArchiveError, match="more than 100 files"):
        reader_for(archive)
    assert len(reader_for(_zip({f"cat/{index}.png": b"x" for index in range(100)})).members) == 100


def test_a_central_directory_of_100000_entries_is_refused_before_it_is_parsed():
    """The end record of this zip saturates at 65535 entries: the entries are
    counted in the central directory itself, and the count stops at the limit."""
    archive = many_entries_zip(100_000)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError, match="more than 1200 entries; the limit is 100 files"):
            reader_for(archive)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 1024 * 1024, f"{peak} bytes allocated while refusing it"


def test_nested_archives_are_refused_by_name_and_by_content():
    png = valid_png()
    with pytest.raises(ArchiveError, match="cat/inner.zip is an archive"):
        reader_for(_zip({"cat/inner.zip": b"anything"}))
    for content in (_zip({"a.png": png}), gzip.compress(png), bz2.compress(png)):
        reader = reader_for(_zip({"cat/photo.png": content}))
        with pytest.raises(ArchiveError, match="cat/photo.png is an archive"):
            reader.read(reader.members[0])


def test_members_over_the_size_limits_are_refused_before_reading():
    with pytest.raises(ArchiveError, match="cat/big.bin is 2000 bytes uncompressed; the limit"):
        reader_for(_zip({"cat/big.bin": bytes(2000)}), ZipLimits(10, 1000, 10_000))
    with pytest.raises(ArchiveError, match="add up to 3000 bytes uncompressed; the limit is 2500"):
        reader_for(
            _zip({f"cat/{index}": bytes(1000) for index in range(3)}), ZipLimits(10, 1000, 2500)
        )


def test_damaged_members_are_refused():
    cut = raw_zip([RawMember("cat/a.txt", deflated(TEXT)[:20], 8, 1000, zlib.crc32(TEXT))])
    wrong_crc = raw_zip([RawMember("cat/a.txt", deflated(TEXT), 8, 1000, 1234)])
    for archive, problem in ((cut, "cut short"), (wrong_crc, "CRC mismatch")):
        reader = reader_for(archive)
        with pytest.raises(ArchiveError, match=problem):
            reader.read(reader.members[0])
    with pytest.raises(ArchiveError, match="upload.zip: not a valid zip"):
        reader_for(b"PK\x03\x04" + bytes(100))
