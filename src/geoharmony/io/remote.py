"""Remote rasters: URLs and GDAL virtual paths, checked without downloading them.

A modality path is *remote* when it is an ``http://``/``https://``, ``s3://`` or
``gs://`` URL, or any GDAL virtual path (``/vsicurl/``, ``/vsis3/``, ``/vsigs/``,
``/vsiaz/``, ``/vsizip/``, ...). Remote paths are kept exactly as written (never
resolved against the configuration's folder nor normalised as local paths, which
would collapse ``//``) and are opened by GDAL under :func:`gdal_path`.

At plan time :func:`probe` checks that an HTTP(S) source exists and answers range
requests (a ``HEAD`` request, retried on transient errors), and records its size,
``ETag`` and ``Last-Modified``; those stand in for a sha256 in the manifest and in
the plan fingerprint, since hashing a remote file would download all of it.
"""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geoharmony.errors import InputError

#: URL schemes accepted in modality paths, and the GDAL virtual file system of each.
SCHEMES = {"http": "/vsicurl/", "https": "/vsicurl/", "s3": "/vsis3/", "gs": "/vsigs/"}
#: HTTP statuses worth retrying (the server or a proxy is temporarily unable to answer).
TRANSIENT = frozenset({408, 429, 500, 502, 503, 504})


def is_remote(path: str | Path) -> bool:
    """Whether ``path`` is a URL, a GDAL virtual path or a VRT's XML (not a local file)."""
    s = str(path)
    if s.startswith(("/vsi", "<VRTDataset")):  # a GDAL path, or a mosaic's VRT XML
        return True
    scheme = s.split("://", 1)[0].lower() if "://" in s else ""
    return scheme in SCHEMES


def gdal_path(path: str | Path) -> str:
    """The path GDAL opens: URLs become ``/vsicurl/``, ``/vsis3/`` or ``/vsigs/`` paths.

    Examples
    --------
    >>> gdal_path("https://example.org/dem.tif")
    '/vsicurl/https://example.org/dem.tif'
    >>> gdal_path("s3://bucket/key/dem.tif")
    '/vsis3/bucket/key/dem.tif'
    >>> gdal_path("/vsicurl/http://127.0.0.1:8000/dem.tif")
    '/vsicurl/http://127.0.0.1:8000/dem.tif'
    """
    s = str(path)
    if "://" in s and not s.startswith("/vsi"):
        scheme, rest = s.split("://", 1)
        prefix = SCHEMES.get(scheme.lower())
        if prefix == "/vsicurl/":
            return prefix + s
        if prefix is not None:
            return prefix + rest
    return s


def http_url(path: str | Path) -> str | None:
    """The ``http(s)://`` URL behind ``path`` (plain or ``/vsicurl/``), else None."""
    s = str(path)
    if s.startswith("/vsicurl/"):
        s = s[len("/vsicurl/") :]
        if s.startswith("url="):  # /vsicurl?url=... style options are passed through
            return None
    if s.lower().startswith(("http://", "https://")):
        return s
    return None


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, for messages."""
    return urllib.parse.urlsplit(url).netloc or url


@dataclass(frozen=True, slots=True)
class RemoteStamp:
    """What identifies a remote file's content without reading it."""

    size: int | None
    etag: str | None
    last_modified: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (for the manifest)."""
        return {"size": self.size, "etag": self.etag, "last_modified": self.last_modified}

    def token(self) -> str:
        """A string that changes when the file does (for the plan fingerprint)."""
        return f"{self.size}|{self.etag}|{self.last_modified}"


def _head(url: str, timeout: float) -> http.client.HTTPResponse:
    req = urllib.request.Request(url, method="HEAD", headers={"User-Agent": "geoharmony"})
    resp: http.client.HTTPResponse = urllib.request.urlopen(req, timeout=timeout)
    return resp


def probe(
    path: str | Path,
    where: str,
    *,
    retries: int = 3,
    delay: float = 0.5,
    timeout: float = 30.0,
) -> RemoteStamp:
    """Check that a remote HTTP(S) raster exists and return its size, ETag, date.

    Non-HTTP remote paths (``s3://``, ``/vsis3/``, ...) are left to GDAL (their
    credentials are GDAL's business) and get an empty stamp.

    Parameters
    ----------
    path
        The modality path (URL or ``/vsicurl/`` path).
    where
        Config key for messages, e.g. ``"[modalities.dem].path"``.
    retries, delay, timeout
        Attempts after the first on a transient failure (5xx, 429, 408, a dropped or
        refused connection), the first wait between them in seconds (doubled each
        time) and the timeout of one request.

    Raises
    ------
    InputError
        Naming the URL, the host, the HTTP status or connection error and the key.
    """
    url = http_url(path)
    if url is None:
        return RemoteStamp(None, None, None)
    host = host_of(url)
    reason = ""
    for attempt in range(retries + 1):
        try:
            with _head(url, timeout) as resp:
                h = resp.headers
                size = h.get("Content-Length")
                return RemoteStamp(
                    int(size) if size is not None and size.isdigit() else None,
                    h.get("ETag"),
                    h.get("Last-Modified"),
                )
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in TRANSIENT:
                hint = (
                    "check the URL" if exc.code in (403, 404, 410) else "check the server and URL"
                )
                raise InputError(
                    f"{url}: the raster ({where}) is not available from {host}: {reason}; {hint}"
                ) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = describe_os_error(exc)
        if attempt < retries:
            time.sleep(delay * 2**attempt)
    raise InputError(
        f"{url}: the raster ({where}) is not reachable at {host} after {retries + 1} attempts: "
        f"{reason}; check that the server is up and the URL is right"
    )


def describe_os_error(exc: BaseException) -> str:
    """A short reason for a failed HTTP request (connection refused, dropped, timeout)."""
    inner = getattr(exc, "reason", exc)
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, TimeoutError):
        return "timed out"
    if isinstance(exc, http.client.RemoteDisconnected) or isinstance(
        inner, http.client.RemoteDisconnected
    ):
        return "the server closed the connection without answering"
    if isinstance(inner, ConnectionResetError):
        return "connection reset by the server"
    return str(inner) or type(inner).__name__


def failure_reason(path: str | Path, error: BaseException | str, *, timeout: float = 10.0) -> str:
    """Why reading a remote raster failed, in words (asks the server again over HTTP).

    GDAL reports a failed ranged read as an opaque "Read failed" or "TIFFReadEncodedTile
    failed"; one more request tells whether the server answers with an error status or
    drops the connection. Non-HTTP paths return GDAL's message.
    """
    url = http_url(path)
    if isinstance(error, str):
        message = error
    else:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if url is None:
        return message
    host = host_of(url)
    req = urllib.request.Request(url, headers={"Range": "bytes=0-0", "User-Agent": "geoharmony"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status = resp.status
    except urllib.error.HTTPError as exc:
        return f"{host} answered HTTP {exc.code} {exc.reason} (GDAL: {message})"
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        return f"{host}: {describe_os_error(exc)} (GDAL: {message})"
    return f"{host} answers (HTTP {status}) but the read failed: {message}"
