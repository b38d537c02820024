"""The one image preprocessing path, shared by training and serving.

An image becomes *pixels*: uint8 (32, 32, 3) RGB (`decode_pixels`), the form the
service stores (BatchItem.pixels), sends to workers (predictions.wire) and hands to
`Predictor`. `to_model_input` is the one conversion of pixels to what the network
takes (float32 in [0, 1]), and `to_uint8` the one conversion back. Training images
and uploaded images both go through here, so the model never sees pixels prepared
differently at serving time than in training.
Bump PREPROCESSING_VERSION whenever the output of this module changes: it is
stored with every model, and a model is only served with the version it was
trained with.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

PREPROCESSING_VERSION = 1
IMAGE_SIZE = 32
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
PIXEL_BYTES = IMAGE_SIZE * IMAGE_SIZE * 3  # one image's pixels as bytes
# Larger images are refused before decoding: a few kilobytes of PNG can claim
# billions of pixels (decompression bomb). 64 MP still admits any camera photo.
MAX_IMAGE_PIXELS = 64_000_000
# Transparent pixels are shown on white, as browsers and viewers show them.
BACKGROUND_RGB = (255, 255, 255)
# Stored copies of uploads (see `reencode_for_storage`): JPEG sources stay JPEG at
# this quality (visually lossless), everything else becomes PNG (lossless).
STORED_JPEG_QUALITY = 92
_JPEG_FORMATS = {"JPEG", "MPO"}  # MPO: a camera's JPEG with extra frames

_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}

ImageSource = bytes | str | Path | BinaryIO | Image.Image


class InvalidImageError(ValueError):
    """The input is not an image Pillow can decode, or is too large to decode."""


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, bytes):
        if not source:
            raise InvalidImageError("empty file: 0 bytes")
        source = io.BytesIO(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InvalidImageError(f"image too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidImageError("not an image format that can be decoded") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(f"unreadable image: {exc}") from exc
    width, height = image.size
    if width * height > MAX_IMAGE_PIXELS:
        raise InvalidImageError(
            f"image too large: {width}x{height} pixels, limit {MAX_IMAGE_PIXELS:,} pixels"
        )
    if width < 1 or height < 1:
        raise InvalidImageError(f"image has no pixels: {width}x{height}")
    return image


def _sixteen_bit_to_grey(image: Image.Image) -> Image.Image:
    values = np.asarray(image, dtype=np.float32)
    return Image.fromarray(np.clip(values / 257.0, 0, 255).round().astype(np.uint8), "L")


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in _SIXTEEN_BIT_MODES:
        return _sixteen_bit_to_grey(image).convert("RGB")
    if image.mode == "I":
        # 32-bit integer images from 16-bit PNGs hold 0..65535; others 0..255.
        values = np.asarray(image)
        if values.size and values.max() > 255:
            return _sixteen_bit_to_grey(image).convert("RGB")
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return Image.fromarray(np.clip(values, 0, 255).round().astype(np.uint8), "L").convert("RGB")
    if image.mode == "RGB":
        return image  # convert() would copy it: 256 MB at 64 megapixels
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND_RGB, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(source: ImageSource) -> Image.Image:
    """Decode `source`, apply its EXIF orientation and return an RGB image."""
    # Let libjpeg decode at a reduced scale (still >= 2x the target side): much
    # faster for camera photos and the same path in training and serving.
    return _decode(_open(source), IMAGE_SIZE * 2)


def _decode(image: Image.Image, jpeg_draft_side: int | None) -> Image.Image:
    """Decode an opened image (a JPEG at a scale of at least `jpeg_draft_side`),
    apply its EXIF orientation, convert to RGB."""
    try:
        if image.format == "JPEG" and jpeg_draft_side:
            image.draft("RGB", (jpeg_draft_side, jpeg_draft_side))
        ImageOps.exif_transpose(image, in_place=True)  # loads it; no copy
        return _to_rgb(image)
    except InvalidImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImageError(f"unreadable image: {exc}") from exc


def image_size(source: ImageSource) -> tuple[int, int]:
    """(width, height) from the file's header, without decoding its pixels; raises
    InvalidImageError as decoding would for what is not an image or too large."""
    return _open(source).size


def validate_image(source: ImageSource) -> str:
    """Decode `source` completely; return its format name (e.g. "PNG", "JPEG")."""
    return decode_with_format(source)[1]


def decode_with_format(source: ImageSource) -> tuple[Image.Image, str]:
    """`load_image` plus the file's format name, decoding only once."""
    image = _open(source)
    image_format = image.format or "PNG"
    return load_image(image), image_format


@dataclass(frozen=True)
class PreparedImage:
    pixels: np.ndarray  # uint8 (32, 32, 3): exactly image_to_uint8(load_image(source))
    stored: bytes  # the copy to keep, from `reencode_for_storage`
    stored_format: str  # "JPEG" or "PNG"


def reencode_for_storage(source: ImageSource, max_side: int) -> tuple[bytes, str]:
    """The copy of an upload that the service keeps: its EXIF orientation applied,
    no metadata (EXIF and its GPS position, XMP, ICC profile, comments, text chunks),
    the longest side at most `max_side`. JPEG sources give JPEG at
    STORED_JPEG_QUALITY, anything else PNG. Returns (bytes, format)."""
    image = _open(source)
    jpeg = image.format in _JPEG_FORMATS
    return _encode_stored(_decode(image, max_side), jpeg, max_side)


def prepare_image(content: bytes, max_side: int) -> PreparedImage:
    """The model's pixels and the stored copy of one upload, decoding it once where
    the two can share a decode (a JPEG is decoded twice, each time at a reduced
    scale: the model's at least 64 px, the stored copy's at least `max_side`)."""
    image = _open(content)
    if image.format in _JPEG_FORMATS:
        pixels = image_to_uint8(load_image(image))
        stored, stored_format = reencode_for_storage(content, max_side)
        return PreparedImage(pixels, stored, stored_format)
    rgb = _decode(image, None)
    pixels = image_to_uint8(rgb)
    return PreparedImage(pixels, *_encode_stored(rgb, False, max_side))


def _encode_stored(rgb: Image.Image, jpeg: bool, max_side: int) -> tuple[bytes, str]:
    rgb.thumbnail((max_side, max_side), Image.Resampling.BICUBIC, reducing_gap=2.0)
    rgb.info = {}  # what the source carried (EXIF, XMP, ICC, comments, text) stays behind
    buffer = io.BytesIO()
    if jpeg:
        rgb.save(buffer, format="JPEG", quality=STORED_JPEG_QUALITY)
        return buffer.getvalue(), "JPEG"
    rgb.save(buffer, format="PNG")
    return buffer.getvalue(), "PNG"


def _center_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return (left, top, left + side, top + side)


def image_to_uint8(image: Image.Image) -> np.ndarray:
    """RGB image → uint8 (32, 32, 3): centre square, then resize."""
    resized = image.resize(
        (IMAGE_SIZE, IMAGE_SIZE),
        resample=Image.Resampling.BICUBIC,
        box=_center_square(*image.size),
        reducing_gap=2.0,
    )
    return np.asarray(resized, dtype=np.uint8)


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels (..., 32, 32, 3) → float32 in [0, 1], what the network takes: the
    one place the service scales pixels, for training and serving alike."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {pixels.dtype}")
    return pixels.astype(np.float32) / 255.0


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Inverse of `to_model_input`: exact for arrays made by this module."""
    return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)


def pixels_to_bytes(pixels: np.ndarray) -> bytes:
    """One image's uint8 (32, 32, 3) pixels as PIXEL_BYTES bytes (stored, or sent)."""
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.shape != INPUT_SHAPE:
        raise ValueError(f"expected uint8 pixels of shape {INPUT_SHAPE}, got {pixels.dtype} "
                         f"{pixels.shape}")  # fmt: skip
    return np.ascontiguousarray(pixels).tobytes()


def pixels_from_bytes(data: bytes) -> np.ndarray:
    """The inverse of `pixels_to_bytes` (a read-only view of `data`)."""
    if len(data) != PIXEL_BYTES:
        raise ValueError(f"expected {PIXEL_BYTES} bytes of pixels, got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8).reshape(INPUT_SHAPE)


def decode_pixels(source: ImageSource) -> np.ndarray:
    """Any image Pillow reads → its uint8 (32, 32, 3) pixels."""
    return image_to_uint8(load_image(source))


def decode_pixels_batch(sources: Iterable[ImageSource]) -> np.ndarray:
    """Many images → one (N, 32, 32, 3) uint8 batch."""
    arrays = [decode_pixels(source) for source in sources]
    if not arrays:
        return np.zeros((0, *INPUT_SHAPE), dtype=np.uint8)
    return np.stack(arrays)


def image_to_array(image: Image.Image) -> np.ndarray:
    """RGB image → model input, float32 (32, 32, 3) in [0, 1]."""
    return to_model_input(image_to_uint8(image))


def preprocess_image(source: ImageSource) -> np.ndarray:
    """Any image Pillow reads → model input, float32 (32, 32, 3) in [0, 1]."""
    return to_model_input(decode_pixels(source))


def preprocess_images(sources: Iterable[ImageSource]) -> np.ndarray:
    """Many images → one (N, 32, 32, 3) float32 batch of model input."""
    return to_model_input(decode_pixels_batch(sources))


def encode_png(pixels: np.ndarray) -> bytes:
    """uint8 (H, W, 3) RGB → PNG bytes (lossless, so re-decoding gives the same pixels)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
