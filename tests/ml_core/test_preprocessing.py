import io
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ml_core.preprocessing import (
    InvalidImageError,
    encode_png,
    pixels_from_bytes,
    pixels_to_bytes,
    preprocess_image,
    preprocess_images,
    to_model_input,
    to_uint8,
    validate_image,
)
from tests.architecture import ROOT, product_files

WHITE = np.array([1.0, 1.0, 1.0], dtype=np.float32)


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def only_color(array: np.ndarray) -> np.ndarray:
    """The single colour of a uniform preprocessed image."""
    assert np.allclose(array, array[0, 0], atol=1 / 255)
    return array[0, 0]


def test_output_is_float32_32x32_rgb_in_unit_range():
    array = preprocess_image(encode(Image.new("RGB", (100, 60), (255, 128, 0))))
    assert array.shape == (32, 32, 3)
    assert array.dtype == np.float32
    assert np.allclose(only_color(array), [1.0, 128 / 255, 0.0])


def test_cifar_sized_png_passes_through_unchanged(mini_dataset):
    pixels = mini_dataset.train.images[0]
    array = preprocess_image(encode_png(pixels))
    assert np.array_equal((array * 255).round().astype(np.uint8), pixels)


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("RGBA", (255, 0, 0, 255), [1, 0, 0]),
        ("RGBA", (255, 0, 0, 0), [1, 1, 1]),  # fully transparent shows the white background
        ("LA", (0, 255), [0, 0, 0]),
        ("LA", (0, 0), [1, 1, 1]),
        ("L", 51, [0.2, 0.2, 0.2]),
        ("1", 0, [0, 0, 0]),
        ("CMYK", (0, 0, 0, 0), [1, 1, 1]),
        ("CMYK", (0, 255, 255, 0), [1, 0, 0]),
        ("I;16", 65535, [1, 1, 1]),
        ("I;16", 128 * 257, [128 / 255] * 3),
        ("I", 51, [0.2, 0.2, 0.2]),
        ("I", 65535, [1, 1, 1]),
        ("F", 0.5, [128 / 255] * 3),
    ],
)
def test_every_image_mode_becomes_rgb(mode, color, expected):
    image = Image.new(mode, (16, 16), color)
    fmt = "TIFF" if mode in {"CMYK", "F", "I"} else "PNG"
    array = preprocess_image(encode(image, fmt))
    assert np.allclose(only_color(array), expected, atol=1 / 255)


def test_palette_image_uses_its_palette_colors():
    image = Image.new("P", (16, 16), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    assert np.allclose(only_color(preprocess_image(encode(image))), [0, 0, 1])


def test_palette_image_with_transparent_index_shows_white():
    image = Image.new("P", (16, 16), 1)
    image.putpalette([0, 0, 0, 0, 0, 255] + [0] * 762)
    array = preprocess_image(encode(image, transparency=1))
    assert np.allclose(only_color(array), WHITE)


def test_sixteen_bit_png_from_disk_is_scaled_not_clipped():
    values = np.full((16, 16), 40_000, dtype=np.uint16)
    data = encode(Image.fromarray(values))
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    assert np.allclose(only_color(preprocess_image(data)), [40_000 / 65535] * 3, atol=1 / 255)


def test_exif_orientation_is_applied_before_resizing():
    # Stored landscape: left half red, right half blue; EXIF 6 says "rotate 90° clockwise"
    # to display, which puts red on top.
    image = Image.new("RGB", (64, 32), (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    array = preprocess_image(encode(image, "JPEG", exif=exif, quality=95))
    assert array[2, 16].argmax() == 0  # red at the top
    assert array[29, 16].argmax() == 2  # blue at the bottom


def test_non_square_image_is_centre_cropped_not_squashed():
    image = Image.new("RGB", (300, 100), (0, 255, 0))
    image.paste((255, 0, 0), (100, 0, 200, 100))  # the centre square is red
    array = preprocess_image(encode(image))
    # The resampling filter reaches a pixel past the crop box; the interior is pure red.
    assert np.allclose(only_color(array[:, 2:-2]), [1, 0, 0])
    assert array[:, :2, 1].max() < 0.1


def test_animated_gif_uses_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color) for color in ((255, 0, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    assert only_color(preprocess_image(buffer.getvalue())).argmax() == 0


def test_batch_stacks_images_in_order():
    sources = [encode(Image.new("RGB", (8, 8), color)) for color in ((255, 0, 0), (0, 0, 255))]
    batch = preprocess_images(sources)
    assert batch.shape == (2, 32, 32, 3)
    assert batch[0, 0, 0].argmax() == 0 and batch[1, 0, 0].argmax() == 2


def test_empty_file_is_an_invalid_image():
    with pytest.raises(InvalidImageError, match="empty file"):
        preprocess_image(b"")


def test_text_is_an_invalid_image():
    with pytest.raises(InvalidImageError, match="not an image format"):
        preprocess_image(b"hello, I am text pretending to be a PNG")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image_is_invalid(fmt):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(InvalidImageError):
        preprocess_image(data[: len(data) // 2])


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(("width", "height"), [(10_000, 10_000), (100_000, 100_000)])
def test_decompression_bomb_is_refused_before_decoding(width, height):
    with pytest.raises(InvalidImageError, match="image too large"):
        preprocess_image(png_claiming_size(width, height))


def test_validate_image_reports_the_format():
    assert validate_image(encode(Image.new("RGB", (4, 4)), "JPEG")) == "JPEG"
    with pytest.raises(InvalidImageError):
        validate_image(b"GIF89a truncated")


def test_pixels_become_model_input_in_one_place_and_back_exactly():
    pixels = np.arange(32 * 32 * 3, dtype=np.uint32).reshape(32, 32, 3).astype(np.uint8)
    model_input = to_model_input(pixels)
    assert model_input.dtype == np.float32 and model_input.max() <= 1.0
    assert np.array_equal(to_uint8(model_input), pixels)
    assert np.array_equal(pixels_from_bytes(pixels_to_bytes(pixels)), pixels)
    scaling = re.compile(r"/\s*255(\.0*)?\b")
    places = [
        str(path.relative_to(ROOT)) for path in product_files() if scaling.search(path.read_text())
    ]
    assert places == ["ml_core/preprocessing.py"]
