"""Admin widgets shared by the apps' admin pages."""

from __future__ import annotations

from django.utils.html import format_html

from classifier_site.media import signed_path

THUMBNAIL_PIXELS = 48
PREVIEW_PIXELS = 256


def image_tag(file, pixels: int, alt: str = "") -> str:
    """A stored image scaled up without smoothing (CIFAR images are 32x32), by a
    signed, expiring URL (the admin's pages are shown to staff only)."""
    if not file:
        return "-"
    return format_html(
        '<img src="{}" width="{}" height="{}" alt="{}" loading="lazy" '
        'style="image-rendering: pixelated; object-fit: contain; background: #fff; '
        'border: 1px solid #ccc">',
        signed_path(file.name),
        pixels,
        pixels,
        alt,
    )
