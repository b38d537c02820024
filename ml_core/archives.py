"""Zip archives from strangers, read one member at a time under hard budgets.

Nothing an archive declares is trusted. Its entries are counted in the central
directory before `zipfile` parses them (a 10 MB zip can hold 200,000 entries);
each member is decompressed in a loop that stops as soon as it produces more than
the member declared, so a member declared as 10 bytes never inflates to 400 MB
(`ZipFile.read` inflates the whole stream in one call before checking); a member
whose real size or CRC differs from its declaration is refused, and so are
encrypted members, compression methods other than stored and deflate (bzip2 and
LZMA bombs inflate far beyond deflate's ratio of about 1000:1), and archives
inside the archive. Each refusal is an `ArchiveError` naming the member and the
limit. Only one member's bytes are ever held at a time.
"""

from __future__ import annotations

import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

READ_CHUNK_BYTES = 1 << 16
# Besides the files a zip delivers, it may hold directory entries and macOS's
# __MACOSX/._name twins (one per file): this many entries per allowed file, plus
# some, are accepted before the central directory is parsed.
ENTRIES_PER_FILE = 2
EXTRA_ENTRIES = 1000

STORED, DEFLATED = zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED
_METHOD_NAMES = {9: "deflate64", 12: "bzip2", 14: "LZMA", 93: "zstandard", 95: "xz",
                 97: "WavPack", 98: "PPMd", 99: "AES encryption"}  # fmt: skip
_ENCRYPTED_FLAGS = 0x0001 | 0x0040  # traditional PKWARE and strong encryption

NESTED_ARCHIVE_EXTENSIONS = frozenset(
    {".zip", ".zipx", ".jar", ".war", ".apk", ".7z", ".rar", ".tar", ".gz", ".tgz", ".bz2",
     ".tbz", ".tbz2", ".xz", ".txz", ".lz", ".lzma", ".zst", ".z", ".cab", ".iso", ".cpio",
     ".ar", ".deb", ".rpm"}
)  # fmt: skip
# (offset, magic): zip, gzip, bzip2, xz, 7z, rar, zstd, cab, tar (ustar at 257).
_ARCHIVE_MAGIC = (
    (0, b"PK\x03\x04"), (0, b"PK\x05\x06"), (0, b"PK\x07\x08"), (0, b"\x1f\x8b"),
    (0, b"BZh"), (0, b"\xfd7zXZ\x00"), (0, b"7z\xbc\xaf\x27\x1c"), (0, b"Rar!\x1a\x07"),
    (0, b"\x28\xb5\x2f\xfd"), (0, b"MSCF"), (257, b"ustar"),
)  # fmt: skip

_END_RECORD = struct.Struct("<4s4H2LH")  # end of central directory
_ZIP64_LOCATOR_SIZE = 20
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL_HEADER_SIZE = 46
_LOCAL_HEADER_SIZE = 30


DISPLAY_NAME_LENGTH = 255


class ArchiveError(ValueError):
    """A zip is refused: malformed, over a limit, or holding what it may not."""


def display_name(name: str) -> str:
    """A file name as shown to people: no control characters (NUL, escape sequences,
    newlines), at most DISPLAY_NAME_LENGTH characters. Names are never used as paths."""
    printable = "".join(
        character for character in name if unicodedata.category(character)[0] != "C"
    )
    return printable[:DISPLAY_NAME_LENGTH]


@dataclass(frozen=True)
class ZipLimits:
    max_members: int  # files delivered (directories and hidden files are skipped)
    max_member_bytes: int  # uncompressed, each
    max_total_bytes: int  # uncompressed, all delivered members together


@dataclass(frozen=True)
class ZipMember:
    name: str  # its path in the archive, for display (control characters removed)
    parts: tuple[str, ...]  # path components, "/" or "\\" separated
    size: int  # declared uncompressed size: reading refuses any other
    info: zipfile.ZipInfo = field(repr=False, compare=False)


def is_hidden(parts: tuple[str, ...]) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


class ZipReader:
    """The files of a zip (directories and hidden files skipped), checked against
    `limits` when opened; `read(member)` decompresses one under the same budgets.

    Nothing is extracted to the filesystem: member names are for display only.
    """

    def __init__(self, source: str | Path | BinaryIO, limits: ZipLimits, label: str = "") -> None:
        opened = hasattr(source, "read")
        name = label or getattr(source, "name", None) or ("upload.zip" if opened else source)
        self.label = display_name(str(name))
        self.limits = limits
        # A path is opened here and closed by close(); an open file stays the caller's.
        self._owned: BinaryIO | None = None
        if not hasattr(source, "read"):
            self._owned = Path(source).open("rb")  # noqa: SIM115
        # mypy narrows `source` to a path only where it lacks .read, not to the file here
        self._file: BinaryIO = self._owned or source  # type: ignore[assignment]
        try:
            self._count_entries()
            try:
                infos = zipfile.ZipFile(self._file).infolist()
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise self._error(f"not a valid zip ({exc})") from exc
            self.members = self._check(infos)
        except BaseException:
            self.close()
            raise

    def _error(self, message: str) -> ArchiveError:
        return ArchiveError(f"{self.label}: {message}")

    def _count_entries(self) -> None:
        """Walk the central directory's records without parsing them: zipfile would
        build an object per entry however many there are."""
        start, size = self._central_directory()
        limit = ENTRIES_PER_FILE * self.limits.max_members + EXTRA_ENTRIES
        self._file.seek(start)
        count, walked = 0, 0
        while walked < size:
            header = self._file.read(_CENTRAL_HEADER_SIZE)
            if len(header) < _CENTRAL_HEADER_SIZE or header[:4] != b"PK\x01\x02":
                raise self._error("not a valid zip (damaged central directory)")
            count += 1
            if count > limit:
                raise self._error(
                    f"more than {limit} entries; the limit is {self.limits.max_members} files"
                )
            name_length, extra_length, comment_length = struct.unpack("<3H", header[28:34])
            skip = name_length + extra_length + comment_length
            self._file.seek(skip, 1)
            walked += _CENTRAL_HEADER_SIZE + skip

    def _central_directory(self) -> tuple[int, int]:
        """(offset, size) of the central directory, found as zipfile finds it: from
        the end record (after a comment of up to 64 KB), zip64's when present."""
        end = self._file.seek(0, 2)
        tail_start = max(0, end - _END_RECORD.size - 0xFFFF)
        self._file.seek(tail_start)
        tail = self._file.read()
        found = tail.rfind(b"PK\x05\x06")
        if found < 0 or len(tail) - found < _END_RECORD.size:
            raise self._error("not a valid zip (no end of central directory)")
        size = _END_RECORD.unpack_from(tail, found)[5]
        record_start = tail_start + found
        locator = record_start - _ZIP64_LOCATOR_SIZE
        if locator - _ZIP64_END_RECORD.size >= 0:
            self._file.seek(locator)
            if self._file.read(4) == b"PK\x06\x07":
                self._file.seek(locator - _ZIP64_END_RECORD.size)
                record = self._file.read(_ZIP64_END_RECORD.size)
                if record[:4] != b"PK\x06\x06":
                    raise self._error("not a valid zip (damaged zip64 end record)")
                size = _ZIP64_END_RECORD.unpack(record)[8]
                record_start = locator - _ZIP64_END_RECORD.size
        if size > record_start:
            raise self._error("not a valid zip (central directory out of bounds)")
        return record_start - size, size

    def _check(self, infos: list[zipfile.ZipInfo]) -> list[ZipMember]:
        members = []
        for info in infos:
            parts = PurePosixPath(info.filename.replace("\\", "/")).parts
            if info.is_dir() or not parts or is_hidden(parts):
                continue
            members.append(ZipMember(display_name(info.filename), parts, info.file_size, info))
            if len(members) > self.limits.max_members:
                raise self._error(f"more than {self.limits.max_members} files (the limit)")
        for member in members:
            self._check_member(member)
        total = sum(member.size for member in members)
        if total > self.limits.max_total_bytes:
            raise self._error(
                f"the files add up to {total} bytes uncompressed; "
                f"the limit is {self.limits.max_total_bytes}"
            )
        return members

    def _check_member(self, member: ZipMember) -> None:
        info = member.info
        if info.flag_bits & _ENCRYPTED_FLAGS:
            raise self._error(f"{member.name} is encrypted; encrypted members are refused")
        if info.compress_type not in (STORED, DEFLATED):
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise self._error(
                f"{member.name} is compressed with {method}; only stored and deflate are accepted"
            )
        if info.compress_type == STORED and info.compress_size != info.file_size:
            raise self._error(f"{member.name}: stored, but its two declared sizes differ")
        if member.size > self.limits.max_member_bytes:
            raise self._error(
                f"{member.name} is {member.size} bytes uncompressed; "
                f"the limit is {self.limits.max_member_bytes}"
            )
        if PurePosixPath(member.parts[-1]).suffix.lower() in NESTED_ARCHIVE_EXTENSIONS:
            raise self._error(f"{member.name} is an archive; archives inside archives are refused")

    def read(self, member: ZipMember) -> bytes:
        """The member's bytes, decompressed in bounded steps; ArchiveError when it
        holds anything but exactly what it declared."""
        info = member.info
        self._file.seek(info.header_offset)
        header = self._file.read(_LOCAL_HEADER_SIZE)
        if len(header) < _LOCAL_HEADER_SIZE or header[:4] != b"PK\x03\x04":
            raise self._error(f"{member.name}: damaged (no local header)")
        name_length, extra_length = struct.unpack("<2H", header[26:30])
        self._file.seek(name_length + extra_length, 1)
        if info.compress_type == STORED:
            content = self._file.read(member.size)
        else:
            content = self._inflate(member)
        if len(content) != member.size:
            raise self._error(
                f"{member.name} holds {len(content)} bytes but declares {member.size}; refused"
            )
        if zlib.crc32(content) != info.CRC:
            raise self._error(f"{member.name}: damaged (CRC mismatch)")
        if any(content[offset : offset + len(magic)] == magic for offset, magic in _ARCHIVE_MAGIC):
            raise self._error(f"{member.name} is an archive; archives inside archives are refused")
        return content

    def _inflate(self, member: ZipMember) -> bytes:
        """Raw deflate, never producing more than one byte past the declared size."""
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        pieces, produced, left = [], 0, member.info.compress_size
        while left > 0 and not inflater.eof:
            data = self._file.read(min(READ_CHUNK_BYTES, left))
            if not data:
                break
            left -= len(data)
            while data and not inflater.eof:
                try:
                    piece = inflater.decompress(data, member.size - produced + 1)
                except zlib.error as exc:
                    raise self._error(f"{member.name}: damaged ({exc})") from exc
                produced += len(piece)
                if produced > member.size:
                    raise self._error(
                        f"{member.name} inflates to more than the {member.size} bytes it "
                        "declares; refused"
                    )
                pieces.append(piece)
                data = inflater.unconsumed_tail
        if not inflater.eof:
            raise self._error(f"{member.name}: damaged (its compressed data is cut short)")
        return b"".join(pieces)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()

    def __enter__(self) -> ZipReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
