"""What the upload endpoints share: budgets per request, and a small pool of real
threads for the heavy image work.

gunicorn runs gevent workers: one process serves hundreds of connections on one
event loop, and any CPU-bound step in a request stops all of them. Decoding,
resizing and re-encoding images (and inflating zip members) therefore run through
`offload`, in at most IMAGE_DECODE_THREADS real threads per process: Pillow and
zlib release the GIL while they work, and where they do not, Python switches
threads every 5 ms, so the event loop keeps answering. The pool also bounds the
memory: however many requests arrive, at most that many images are being decoded
in a process at once (each request hands it one image at a time).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from gevent import monkey
from gevent.threadpool import ThreadPool

from ml_core.archives import ZipLimits
from ml_core.preprocessing import InvalidImageError, image_size

T = TypeVar("T")


class RequestTooLarge(Exception):
    """Over a budget of the request as a whole: answered 413, the limit named."""

    def __init__(self, detail: str, limit: int) -> None:
        super().__init__(detail)
        self.limit = limit


def too_large_response(exc: RequestTooLarge) -> JsonResponse:
    return JsonResponse({"detail": str(exc), "limit": exc.limit}, status=413)


# --- the decode pool ------------------------------------------------------------------

_pool_lock = threading.Lock()
_pool: tuple[int, Any] | None = None  # (pid, pool): a forked process makes its own


def offload(function: Callable[..., T], *args: Any) -> T:
    """`function(*args)` in one of the process's decode threads; its result, or
    its exception raised here. Call it for one image at a time."""
    if _gevent_patched():
        # gevent prints every exception raised in its pool: pass them back instead.
        ok, value = _gevent_pool().apply(_capture, (function, *args))
        if not ok:
            raise value
        return value
    # Without gevent every request has a thread of its own (gthread workers, runserver,
    # tests, commands): the semaphore alone bounds how many decode at once.
    with _semaphore():
        return function(*args)


def _capture(function: Callable[..., T], *args: Any) -> tuple[bool, Any]:
    try:
        return True, function(*args)
    except BaseException as exc:  # handed to the waiting greenlet, which raises it
        return False, exc


def _gevent_patched() -> bool:
    return monkey.is_module_patched("threading")


def _gevent_pool():
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPool(settings.IMAGE_DECODE_THREADS))
        return _pool[1]


_semaphores: dict[int, threading.BoundedSemaphore] = {}


def _semaphore() -> threading.BoundedSemaphore:
    with _pool_lock:
        size = settings.IMAGE_DECODE_THREADS
        return _semaphores.setdefault(size, threading.BoundedSemaphore(size))


# --- budgets --------------------------------------------------------------------------


def batch_zip_limits() -> ZipLimits:
    """A batch job's zip: as many images as files in one request."""
    return ZipLimits(
        max_members=settings.API_MAX_FILES,
        max_member_bytes=settings.API_MAX_UPLOAD_BYTES,
        max_total_bytes=settings.API_MAX_ARCHIVE_BYTES,
    )


def training_zip_limits() -> ZipLimits:
    return ZipLimits(
        max_members=settings.API_MAX_TRAINING_ARCHIVE_FILES,
        max_member_bytes=settings.API_MAX_UPLOAD_BYTES,
        max_total_bytes=settings.API_MAX_ARCHIVE_BYTES,
    )


def read_upload(upload) -> Callable[[], bytes]:
    """A function reading an uploaded file whole, for a decode thread to call."""
    return partial(_read_from_start, upload)


def _read_from_start(upload) -> bytes:
    upload.seek(0)
    return upload.read()


def check_request_pixels(images: Iterable[tuple[str, bytes | Callable[[], bytes]]]) -> list[str]:
    """Refuse (RequestTooLarge) a request whose images add up to more than
    API_MAX_REQUEST_PIXELS, from their headers, before any is decoded. `images`:
    (name, reader or bytes) pairs. Returns "name: reason" for each file that is not an image
    (or too large), which decoding refuses anyway: a caller may refuse it now."""
    limit, total, problems = settings.API_MAX_REQUEST_PIXELS, 0, []
    for name, read in images:
        pixels, problem = offload(_pixels, read)
        if problem:
            problems.append(f"{name}: {problem}")
        total += pixels
        if total > limit:
            raise RequestTooLarge(
                f"the images of this request add up to more than {limit:,} pixels "
                f"(API_MAX_REQUEST_PIXELS); send fewer or smaller images per request",
                limit,
            )
    return problems


def _pixels(read: bytes | Callable[[], bytes]) -> tuple[int, str]:
    try:
        width, height = image_size(read() if callable(read) else read)
    except InvalidImageError as exc:
        return 0, str(exc)
    return width * height, ""


class RequestBodyLimitMiddleware:
    """Refuse a body over API_MAX_REQUEST_BYTES from its Content-Length, before
    anything parses (or spools to disk) a byte of it. A body sent without a length
    (chunked) is read by Django as empty."""

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response

    def __call__(self, request):
        limit = settings.API_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length <= limit:
            return self.get_response(request)
        detail = (
            f"the request body is {length:,} bytes; the limit is {limit:,} bytes "
            "(API_MAX_REQUEST_BYTES): send fewer files per request"
        )
        if request.path.startswith("/api/"):
            return too_large_response(RequestTooLarge(detail, limit))
        return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
