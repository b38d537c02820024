"""Uploads carrying metadata and an EXIF orientation, and the check that what the
service stored of them is upright, capped and without any of it."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin

SECRET = "secret-47.3769N"  # in every metadata field; never in a stored file


def _pattern(width: int, height: int) -> Image.Image:
    """Left half red, right half blue, a green band on top: any rotation or flip
    changes it."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = (220, 30, 30)
    pixels[:, width // 2 :] = (30, 30, 220)
    pixels[: height // 5] = (30, 200, 30)
    return Image.fromarray(pixels, "RGB")


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = SECRET
    exif[ExifTags.Base.ImageDescription] = SECRET
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (47.0, 22.0, 37.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (8.0, 32.0, 28.0)
    return exif


def photo_with_metadata() -> bytes:
    """A 1600x700 JPEG to be shown rotated 90 degrees clockwise (EXIF orientation 6),
    with a GPS position, XMP, a comment and an ICC profile."""
    buffer = io.BytesIO()
    _pattern(1600, 700).save(
        buffer,
        "JPEG",
        quality=95,
        exif=_exif(6).tobytes(),
        comment=SECRET.encode(),
        xmp=f"<x:xmpmeta><rdf:Description>{SECRET}</rdf:Description></x:xmpmeta>".encode(),
        icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes(),
    )
    return buffer.getvalue()


def png_with_metadata() -> bytes:
    """A 1300x500 PNG to be shown rotated 90 degrees counter-clockwise (orientation 8),
    with EXIF (GPS) and text chunks."""
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", SECRET)
    text.add_itxt("Comment", SECRET)
    buffer = io.BytesIO()
    _pattern(1300, 500).save(buffer, "PNG", pnginfo=text, exif=_exif(8).tobytes())
    return buffer.getvalue()


def stored_problems(stored: bytes, upload: bytes, max_side: int = 1024) -> list[str]:
    """What is wrong with `stored` as the stored copy of `upload`: metadata kept,
    not upright, not capped, another format family."""
    problems = []
    for marker in (SECRET.encode(), b"Exif\x00\x00", b"http://ns.adobe.com/xap", b"ICC_PROFILE"):
        if marker in stored:
            problems.append(f"the stored file contains {marker!r}")
    image, original = Image.open(io.BytesIO(stored)), Image.open(io.BytesIO(upload))
    if len(image.getexif()):
        problems.append(f"EXIF kept: {dict(image.getexif())}")
    kept = {"exif", "xmp", "comment", "icc_profile", "Author", "Comment"} & set(image.info)
    if kept:
        problems.append(f"metadata kept: {sorted(kept)}")
    family = "JPEG" if original.format == "JPEG" else "PNG"
    if image.format != family:
        problems.append(f"a {original.format} was stored as {image.format}")
    upright = ImageOps.exif_transpose(original).convert("RGB")
    expected = upright.copy()
    expected.thumbnail((max_side, max_side))
    if image.size != expected.size:
        problems.append(f"stored {image.size}, expected {expected.size} (upright, capped)")
    else:
        difference = np.abs(
            np.asarray(image.convert("RGB"), dtype=np.int16) - np.asarray(expected, dtype=np.int16)
        )
        if difference.mean() > 6:
            problems.append(f"the pixels differ from the upright image by {difference.mean():.1f}")
    return problems


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()
