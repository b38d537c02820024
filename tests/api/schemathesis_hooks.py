"""Schemathesis hooks for tests/api/test_schema_fuzz.py (loaded by its command line
through the `hooks` setting): the files its requests upload.

The schema says what each upload holds (the `encoding` of multipart bodies:
`image/*`, `application/zip`; classifier_site/schema.py); these strategies make
such files, so that the bodies the schema calls valid are valid down to their files.
"""

import io
import zipfile

import schemathesis
from hypothesis import strategies as st
from PIL import Image

# Known classes of the test data (CIFAR-10), and one the training set does not have:
# a folder of a new class is a 409 unless new_class is sent, as the schema says.
FOLDERS = ["cat", "ship", "new-class"]


def png(width: int, height: int, shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade, 255 - shade, shade // 2)).save(buffer, "PNG")
    return buffer.getvalue()


PNG = st.builds(png, st.integers(1, 40), st.integers(1, 40), st.integers(0, 255))


@st.composite
def _zip_of_pngs(draw) -> bytes:
    """A zip of class folders of images: a batch job reads any layout, a training
    upload reads the folders as labels."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(draw(st.integers(1, 3))):
            folder = draw(st.sampled_from(FOLDERS))
            archive.writestr(f"{folder}/{index}.png", draw(PNG))
    return buffer.getvalue()


schemathesis.openapi.media_type("image/png", PNG)
# Lists of files (`images`) carry no encoding (classifier_site/schema.py): every
# other binary string is an image.
schemathesis.openapi.format("binary", PNG)
schemathesis.openapi.media_type("application/zip", _zip_of_pngs())
