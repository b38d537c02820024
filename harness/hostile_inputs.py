"""A corpus of hostile and unusual uploads, generated (nothing binary is committed).

`image_files()` are single files with what the service must do with them: accept
(a real image, however odd) or refuse (with a 4xx). `archives()` are zips for the
endpoints that take one. `multipart()` builds a request body by hand, so file names
can be bytes that are not UTF-8, which no HTTP client library would send.
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

ACCEPT, REFUSE = "accept", "refuse"


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes
    expect: str  # ACCEPT or REFUSE
    filename: bytes = b"upload.png"


def _save(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _gradient(width: int = 48, height: int = 40) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def valid_png() -> bytes:
    return _save(_gradient(), "PNG")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


def _exif_rotated_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return _save(_gradient(64, 32), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), color) for color in (1, 50, 200)]
    return _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)


def _palette_png_with_transparency() -> bytes:
    image = _gradient().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _save(image, "PNG", transparency=0)


def _sixteen_bit_png() -> bytes:
    values = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 63).astype(np.uint16)
    return _save(Image.fromarray(values), "PNG")


@cache
def _ten_thousand_square_png() -> bytes:
    return _save(Image.new("1", (10_000, 10_000), 1), "PNG")


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _flag_encrypted(archive: bytes) -> bytes:
    """Set the 'encrypted' bit on every entry (the content stays as it was)."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = 0
        while (found := data.find(signature, start)) != -1:
            data[found + offset] |= 0x01
            start = found + 4
    return bytes(data)


def _unsupported_compression(archive: bytes) -> bytes:
    """Claim compression method 97 (WavPack), which zipfile cannot decompress."""
    data = bytearray(archive)
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (found := data.find(signature, start)) != -1:
            data[found + offset : found + offset + 2] = struct.pack("<H", 97)
            start = found + 4
    return bytes(data)


@dataclass(frozen=True)
class RawMember:
    """A zip member written byte by byte, so that it can lie: `declared` is the
    uncompressed size and `crc` the CRC-32 that the headers claim."""

    name: str
    payload: bytes  # the compressed data as stored
    method: int
    declared: int
    crc: int
    flags: int = 0


def raw_zip(members: list[RawMember]) -> bytes:
    """A zip of `members` exactly as given (no zipfile checks on the way)."""
    local, central = bytearray(), bytearray()
    for member in members:
        name = member.name.encode()
        fixed = struct.pack(
            "<HHHHHLLL", 20, member.flags, member.method, 0, 0x21,
            member.crc, len(member.payload), member.declared,
        )  # fmt: skip
        central += (
            b"PK\x01\x02" + struct.pack("<H", 20) + fixed
            + struct.pack("<HHHHHLL", len(name), 0, 0, 0, 0, 0, len(local)) + name
        )  # fmt: skip
        local += b"PK\x03\x04" + fixed + struct.pack("<HH", len(name), 0) + name + member.payload
    count = min(len(members), 0xFFFF)  # more entries than the field holds: it saturates
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(local), 0)
    return bytes(local + central + end)


def _compressed_zeros(size: int, compressor) -> bytes:
    """`size` zero bytes through `compressor`, a megabyte at a time (little memory)."""
    block, pieces = bytes(1 << 20), []
    for start in range(0, size, len(block)):
        pieces.append(compressor.compress(block[: min(len(block), size - start)]))
    return b"".join([*pieces, compressor.flush()])


def _deflated(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _zeros_crc(size: int) -> int:
    block, crc = bytes(1 << 20), 0
    for start in range(0, size, len(block)):
        crc = zlib.crc32(block[: min(len(block), size - start)], crc)
    return crc


@cache
def lying_size_zip(inflated: int = 400 * 1024 * 1024, declared: int = 10) -> bytes:
    """One deflate member of `inflated` zero bytes that declares `declared` bytes and
    the CRC of that many zeros (400 MB by default, in a zip of about 400 KB)."""
    payload = _compressed_zeros(inflated, zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS))
    crc = zlib.crc32(bytes(declared))
    return raw_zip([RawMember("cat/bomb.png", payload, zipfile.ZIP_DEFLATED, declared, crc)])


@cache
def bzip2_bomb(inflated: int = 400 * 1024 * 1024) -> bytes:
    """One bzip2 member (method 12) of `inflated` zeros, honestly declared: 400 MB in
    a few hundred bytes, far past deflate's ratio."""
    payload = _compressed_zeros(inflated, bz2.BZ2Compressor(9))
    return raw_zip(
        [RawMember("cat/bomb.png", payload, zipfile.ZIP_BZIP2, inflated, _zeros_crc(inflated))]
    )


@cache
def lzma_bomb(inflated: int = 64 * 1024 * 1024) -> bytes:
    """One LZMA member (method 14, with zip's 4-byte LZMA header) of `inflated` zeros."""
    compressor = lzma.LZMACompressor(format=lzma.FORMAT_RAW,
                                     filters=[{"id": lzma.FILTER_LZMA1}])  # fmt: skip
    # A private function of the lzma module, which typeshed leaves out
    properties = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})  # type: ignore[attr-defined]
    header = struct.pack("<BBH", 9, 4, len(properties)) + properties
    payload = header + _compressed_zeros(inflated, compressor)
    return raw_zip(
        [RawMember("cat/bomb.png", payload, zipfile.ZIP_LZMA, inflated, _zeros_crc(inflated))]
    )


@cache
def many_entries_zip(count: int = 100_000) -> bytes:
    """`count` one-byte stored members (about 100 bytes of zip each)."""
    return raw_zip(
        [RawMember(f"t/{index}", b"x", zipfile.ZIP_STORED, 1, zlib.crc32(b"x"))
         for index in range(count)]
    )  # fmt: skip


@cache
def image_files() -> list[Case]:
    """Single uploads: 25 contents, then awkward file names on a valid image."""
    png = valid_png()
    jpeg = _save(_gradient(), "JPEG", quality=90)
    cases = [
        Case("empty file", b"", REFUSE),
        Case("text renamed .png", b"hello, I am not an image\n" * 20, REFUSE),
        Case("truncated PNG", png[: len(png) // 2], REFUSE),
        Case("truncated JPEG", jpeg[: len(jpeg) // 2], REFUSE, b"photo.jpg"),
        Case("PNG header only", png[:33], REFUSE),
        Case("PNG with a broken CRC", png[:29] + bytes([png[29] ^ 0xFF]) + png[30:], REFUSE),
        Case("polyglot PNG + zip", png + _zip({"run.sh": b"echo pwned"}), ACCEPT),
        Case(
            "polyglot JPEG + HTML",
            jpeg + b"<html><script>alert(document.cookie)</script></html>",
            ACCEPT,
            b"photo.jpg",
        ),
        Case(
            "decompression bomb (PNG claiming 100000x100000)",
            _png_claiming(100_000, 100_000),
            REFUSE,
        ),
        Case("zero-width PNG", _png_claiming(0, 10), REFUSE),
        Case("1x1 PNG", _save(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), ACCEPT),
        Case("10000x10000 PNG (100 megapixels)", _ten_thousand_square_png(), REFUSE),
        Case(
            "1x4000 PNG (extreme aspect ratio)", _save(Image.new("L", (1, 4000), 99), "PNG"), ACCEPT
        ),
        Case("16-bit greyscale PNG", _sixteen_bit_png(), ACCEPT),
        Case("CMYK JPEG", _save(_gradient().convert("CMYK"), "JPEG"), ACCEPT, b"cmyk.jpg"),
        Case("animated GIF", _animated_gif(), ACCEPT, b"anim.gif"),
        Case("palette PNG with transparency", _palette_png_with_transparency(), ACCEPT),
        Case("greyscale + alpha PNG", _save(_gradient().convert("LA"), "PNG"), ACCEPT),
        Case("EXIF-rotated JPEG", _exif_rotated_jpeg(), ACCEPT, b"rotated.jpg"),
        Case("BMP", _save(_gradient(), "BMP"), ACCEPT, b"image.bmp"),
        Case("TIFF", _save(_gradient(), "TIFF"), ACCEPT, b"image.tif"),
        Case("WebP", _save(_gradient(), "WEBP"), ACCEPT, b"image.webp"),
        Case(
            "SVG",
            b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
            b'<rect width="10" height="10"/></svg>',
            REFUSE,
            b"vector.svg",
        ),
        Case(
            "HEIC (ftyp box, no decoder)",
            b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(200),
            REFUSE,
            b"photo.heic",
        ),
        Case("unknown binary format", bytes(range(256)) * 8, REFUSE, b"data.bin"),
        Case("a zip sent as an image", _zip({"cat/a.png": png}), REFUSE, b"images.zip"),
        # Names: display only; none may break storage, the database or the response.
        Case("NUL and control characters in the name", png, ACCEPT, b"a\x00b\x1b[31m.png"),
        Case("path traversal in the name", png, ACCEPT, b"../../../../etc/passwd.png"),
        Case("300-character name", png, ACCEPT, b"n" * 296 + b".png"),
        # Django refuses part headers over 1 KB: a clear 400.
        Case("1000-character name", png, REFUSE, b"n" * 996 + b".png"),
    ]
    return cases


def _distinct_tiny_pngs(count: int) -> dict[str, bytes]:
    return {
        f"tiny/{index:05d}.png": _save(
            Image.new("RGB", (1, 1), (index % 256, index // 256 % 256, 7)), "PNG"
        )
        for index in range(count)
    }


@dataclass(frozen=True)
class Archive:
    name: str
    content: bytes
    batch_expect: str  # batch jobs: ACCEPT (202) or REFUSE (400)
    training_expect: str  # training images (zip of class folders): ACCEPT (201) or REFUSE


@cache
def archives() -> list[Archive]:
    png = valid_png()
    zeros = bytes(48 * 1024 * 1024)
    return [
        Archive(
            "zip with path traversal names",
            _zip({"../../evil.png": png, "/abs/evil2.png": png, "..\\..\\evil3.png": png}),
            ACCEPT,  # names are display only; nothing is extracted
            ACCEPT,  # '..' is rejected as a label, the others are listed
        ),
        Archive(
            "zip bomb: one member of 60 MB of zeros",
            _zip({"cat/bomb.png": bytes(60 * 1024 * 1024)}),
            REFUSE,
            REFUSE,
        ),
        Archive(
            "zip bomb: many members of 48 MB of zeros",
            _zip({f"cat/bomb{index}.png": zeros for index in range(11)}),
            REFUSE,
            REFUSE,
        ),
        Archive(
            "nested zip",
            _zip({"cat/inner.zip": _zip({"cat/a.png": png}), "outer.zip": _zip({"b.png": png})}),
            REFUSE,
            REFUSE,  # the whole archive: it could hold anything
        ),
        Archive(
            "zip inside a zip, named .png",
            _zip({"cat/a.png": _zip({"b.png": png})}),
            REFUSE,
            REFUSE,
        ),
        Archive(
            "deflate member inflating past its declared size",
            lying_size_zip(32 * 1024 * 1024),
            REFUSE,
            REFUSE,
        ),
        Archive("bzip2 member", bzip2_bomb(32 * 1024 * 1024), REFUSE, REFUSE),
        Archive("LZMA member", lzma_bomb(8 * 1024 * 1024), REFUSE, REFUSE),
        Archive(
            "member smaller than declared",
            raw_zip(
                [
                    RawMember("cat/a.png", png, zipfile.ZIP_STORED, len(png), zlib.crc32(png)),
                    RawMember(
                        "cat/b.png",
                        _deflated(png),
                        zipfile.ZIP_DEFLATED,
                        len(png) + 9,
                        zlib.crc32(png),
                    ),
                ]
            ),
            REFUSE,
            REFUSE,
        ),
        Archive("100,000 entries", many_entries_zip(100_000), REFUSE, REFUSE),
        Archive(
            "non-UTF-8 member names",
            _zip_with_raw_names({b"cat/\xff\xfe.png": png}),
            ACCEPT,
            ACCEPT,
        ),
        Archive("encrypted zip", _flag_encrypted(_zip({"cat/a.png": png})), REFUSE, REFUSE),
        Archive(
            "unsupported compression method",
            _unsupported_compression(_zip({"cat/a.png": png})),
            REFUSE,
            REFUSE,
        ),
        Archive("corrupt zip", b"PK\x03\x04" + bytes(100), REFUSE, REFUSE),
        Archive("empty zip", _zip({}), REFUSE, REFUSE),
        # More images than files per request (API_MAX_FILES) for a batch job; a training
        # zip may hold API_MAX_TRAINING_ARCHIVE_FILES.
        Archive("2000 tiny images", _zip(_distinct_tiny_pngs(2000)), REFUSE, ACCEPT),
    ]


def _zip_with_raw_names(members: dict[bytes, bytes]) -> bytes:
    """Names stored as raw bytes with the UTF-8 flag off (read back as cp437)."""
    placeholder = {f"member{index:04d}": content for index, content in enumerate(members.values())}
    data = _zip(placeholder)
    for index, raw in enumerate(members):
        marker = f"member{index:04d}".encode()
        assert len(raw) <= len(marker)
        data = data.replace(marker, raw.ljust(len(marker), b"_"))
    return data


BOUNDARY = "hostile-boundary-7d1f"


def multipart(fields: dict[str, str], files: list[tuple[str, bytes, bytes]]) -> tuple[bytes, str]:
    """(body, content type) for fields and (field, raw file name, content) files."""
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + value.encode()
            + b"\r\n"
        )
    for field, filename, content in files:
        safe = filename.replace(b'"', b"%22").replace(b"\r", b"").replace(b"\n", b"")
        parts.append(
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; '.encode()
            + b'filename="'
            + safe
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
            + content
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()
    return body, f"multipart/form-data; boundary={BOUNDARY}"
