"""Download a source's raw file: conditional, retried, checked whole, written atomically beside its metadata."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import IncompleteRead, MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

log = logging.getLogger(__name__)

FetchStatus = Literal["downloaded", "unchanged", "offline"]

META_SUFFIX = ".meta.json"
# Server errors worth another try; a 501 or 505 will not change, but costs only a few requests.
RETRY_STATUSES = frozenset({500, 502, 503, 504})
CHUNK_BYTES = 1 << 16
MAX_REASON_CHARS = 300

_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_UNSAFE_FILENAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class ExtractError(RuntimeError):
    """The server answered but will not give the file (a 4xx other than 304, or a bad answer)."""


@dataclass(frozen=True)
class FetchRecord:
    """What is needed to ask "has it changed?": validators and the hash of the saved copy.

    `path` is the saved copy the record describes, when known; an "unchanged" result points at it.
    """

    etag: str | None
    last_modified: str | None
    sha256: str
    path: Path | None = None


@dataclass(frozen=True)
class FetchResult:
    """What one `fetch` did. `path` and `record` are None when nothing usable was saved."""

    status: FetchStatus
    path: Path | None
    record: FetchRecord | None
    message: str


# What "cannot be reached" means: after urllib3's retries, the network or the server gave up.
_UNREACHABLE = (
    requests.ConnectionError,  # refused, reset, DNS, TLS, and retries exhausted on read errors
    requests.Timeout,
    requests.exceptions.RetryError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class _IncompleteBody(Exception):
    """Fewer (or more) body bytes arrived than the Content-Length header announced."""


def user_agent() -> str:
    try:
        version = metadata.version("ironriver")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"IronRiver-ETL/{version} (+python-requests)"


def filename_for(url: str) -> str:
    """The last path segment of `url`, reduced to characters safe in any file system."""
    name = unquote(urlsplit(url).path).rstrip("/").rpartition("/")[2]
    return _safe_filename(name)


def _safe_filename(name: str) -> str:
    # No separators, no leading dot (hidden files and "..") and nothing a shell would trip on.
    safe = _UNSAFE_FILENAME_CHARS.sub("_", name).lstrip(".")
    return safe[:150] or "download"


def fetch(
    url: str,
    dest_root: Path,
    source: str,
    *,
    previous: FetchRecord | None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 1.0,
    session: requests.Session | None = None,
    filename: str | None = None,
) -> FetchResult:
    """Download `url` into `dest_root/<source>/<YYYY-MM-DD>/<filename>` unless it is unchanged.

    Sends If-None-Match / If-Modified-Since from `previous`; a 304, or a 200 whose body hashes to
    `previous.sha256`, is "unchanged" and writes nothing. Connection errors, timeouts, 5xx and
    bodies cut short are retried up to `retries` times in all, with urllib3's exponential backoff
    (the first retry at once, then `backoff` x 2, x 4, ... seconds, capped at 120); if they persist
    the result is "offline" and the caller keeps its committed copy.
    A 4xx (other than 304) raises `ExtractError`. A given `session` gets a retrying adapter
    mounted for http:// and https://.
    """
    if not _SOURCE_NAME.match(source):
        raise ValueError(f"source name {source!r} is not a lower-case slug")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ExtractError(f"{source}: not an http(s) URL: {url!r}")
    name = _safe_filename(filename) if filename else filename_for(url)

    retry = Retry(
        total=retries,
        backoff_factor=backoff,
        status_forcelist=RETRY_STATUSES,
        allowed_methods=frozenset({"GET"}),
        raise_on_status=False,  # the last 5xx comes back as a response, so the message can name it
        # A server's Retry-After could stall a scheduled run for any length of time; ours is bounded.
        respect_retry_after_header=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    http = session if session is not None else requests.Session()
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    headers = {"User-Agent": user_agent(), **_conditional_headers(previous)}
    try:
        while True:
            try:
                response = http.get(url, headers=headers, timeout=timeout, stream=True)
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as error:
                raise ExtractError(f"{source}: invalid URL {url!r}: {_one_line(error)}") from error
            except _UNREACHABLE as error:
                return _offline(source, url, retries, _reason(error))
            except requests.RequestException as error:  # e.g. too many redirects: not transient
                raise ExtractError(f"{source}: {url}: {_reason(error)}") from error
            with response:
                outcome = _answer(response, url, dest_root, source, name, previous, retries)
                if isinstance(outcome, FetchResult):
                    return outcome
                # The body was cut short: count it against the same budget urllib3 keeps.
                used: Retry = response.raw.retries or adapter.max_retries
                try:
                    retry = used.increment(method="GET", url=url, error=ProtocolError(outcome))
                except MaxRetryError:
                    return _offline(source, url, retries, outcome)
            log.warning("%s: %s; retrying", source, outcome)
            retry.sleep()
            adapter.max_retries = retry
    finally:
        if session is None:
            http.close()


def _conditional_headers(previous: FetchRecord | None) -> dict[str, str]:
    headers = {}
    if previous is not None and previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous is not None and previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def _answer(
    response: requests.Response,
    url: str,
    dest_root: Path,
    source: str,
    name: str,
    previous: FetchRecord | None,
    retries: int,
) -> FetchResult | str:
    """The result for one response, or the reason its body has to be fetched again."""
    status = response.status_code
    if status == 304:
        path = previous.path if previous is not None else None
        message = f"{source}: unchanged on the server (HTTP 304); nothing downloaded"
        log.info(message)
        return FetchResult("unchanged", path, previous, message)
    if status >= 500:
        return _offline(source, url, retries, f"HTTP {status} {response.reason}")
    if status >= 400:
        raise ExtractError(f"{source}: {url} answered HTTP {status} {_one_line(response.reason)}")
    if status != 200:
        raise ExtractError(f"{source}: {url} answered HTTP {status}, expected 200 or 304")
    try:
        return _save(response, url, dest_root, source, name, previous)
    except (_IncompleteBody, requests.RequestException) as error:
        return _reason(error)


def _save(
    response: requests.Response,
    url: str,
    dest_root: Path,
    source: str,
    name: str,
    previous: FetchRecord | None,
) -> FetchResult:
    accessed = dt.datetime.now(dt.UTC)
    source_dir = dest_root / source
    source_dir.mkdir(parents=True, exist_ok=True)
    # The partial file sits beside the final one (same file system, so the rename is atomic) and
    # is named so that listings, the inbox and `latest_record` never mistake it for a download.
    descriptor, partial_name = tempfile.mkstemp(dir=source_dir, prefix=f".{name}.", suffix=".part")
    partial = Path(partial_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(descriptor, "wb") as out:
            for chunk in response.iter_content(CHUNK_BYTES):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check_complete(response)
        sha256 = digest.hexdigest()
        etag = response.headers.get("ETag")
        last_modified = response.headers.get("Last-Modified")
        if previous is not None and _same_as(previous, sha256):
            partial.unlink()
            record = FetchRecord(etag or previous.etag, last_modified, sha256, previous.path)
            message = f"{source}: server sent the same content again (sha256 {sha256[:12]}…)"
            log.info(message)
            return FetchResult("unchanged", previous.path, record, message)
        target_dir = source_dir / accessed.date().isoformat()
        target_dir.mkdir(exist_ok=True)
        target = target_dir / name
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    meta = {
        "source": source,
        "url": url,
        "final_url": response.url,
        "filename": name,
        "sha256": sha256,
        "size": size,
        "etag": etag,
        "last_modified": last_modified,
        "content_type": response.headers.get("Content-Type"),
        "http_status": response.status_code,
        "date_accessed": accessed.isoformat(timespec="seconds"),
    }
    write_text_atomically(meta_path(target), json.dumps(meta, indent=2, ensure_ascii=False) + "\n")
    record = FetchRecord(etag, last_modified, sha256, target)
    message = f"{source}: downloaded {size} bytes to {target}"
    log.info(message)
    return FetchResult("downloaded", target, record, message)


def _same_as(previous: FetchRecord, sha256: str) -> bool:
    """True when the body is the copy already saved (a server that ignores conditional GETs)."""
    return previous.sha256 == sha256 and previous.path is not None and previous.path.is_file()


def _check_complete(response: requests.Response) -> None:
    """urllib3 already refuses a short body; this is the same check, made where we can see it."""
    announced = response.headers.get("Content-Length", "")
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    if chunked or not announced.isdigit():
        return
    received = response.raw.tell()  # bytes off the wire, before any Content-Encoding is undone
    if received != int(announced):
        raise _IncompleteBody(f"body incomplete: {received} of {announced} bytes")


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one, never half."""
    descriptor, partial_name = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".part"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial_name, path)
    except BaseException:
        Path(partial_name).unlink(missing_ok=True)
        raise


def meta_path(path: Path) -> Path:
    """Where the metadata of a downloaded file lives: `<file>.meta.json` beside it."""
    return path.with_name(path.name + META_SUFFIX)


def _offline(source: str, url: str, retries: int, reason: str) -> FetchResult:
    message = (
        f"{source}: could not fetch {url} after {retries} retries ({reason}); "
        "the committed copy will be used"
    )
    log.warning(message)
    return FetchResult("offline", None, None, message)


def _reason(error: BaseException) -> str:
    """A short, one-line cause: "timed out", "connection refused", "body incomplete: ..."."""
    if isinstance(error, requests.Timeout):
        return "timed out"
    inner = _innermost(error)
    if isinstance(inner, IncompleteRead):
        return f"body incomplete: {inner.partial} bytes read, {inner.expected} more expected"
    text = str(inner)
    if "timed out" in text.lower():
        return "timed out"
    if "refused" in text.lower():
        return "connection refused"
    return _one_line(f"{type(inner).__name__}: {text}" if text else type(inner).__name__)


def _innermost(error: BaseException) -> BaseException:
    """requests wraps urllib3's errors in its own, sometimes twice; the cause is at the bottom."""
    for _ in range(10):  # a bound, not a depth anyone expects
        if isinstance(error, MaxRetryError) and error.reason is not None:
            error = error.reason
            continue
        nested = [arg for arg in error.args if isinstance(arg, BaseException)]
        if not nested:
            break
        error = nested[-1]
    return error


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:MAX_REASON_CHARS]


def latest_record(dest_root: Path, source: str) -> FetchRecord | None:
    """The record of the newest saved download of `source` whose file is still intact, if any.

    A meta file that cannot be read, or whose file is missing or no longer matches its sha256,
    is passed over, so the next fetch downloads afresh instead of trusting a broken copy.
    """
    best: tuple[str, str] | None = None
    found: FetchRecord | None = None
    for meta_file in sorted((dest_root / source).glob(f"*/*{META_SUFFIX}")):
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            accessed, sha256 = str(meta["date_accessed"]), str(meta["sha256"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("%s: ignoring unreadable %s: %s", source, meta_file, _one_line(error))
            continue
        body = meta_file.with_name(meta_file.name.removesuffix(META_SUFFIX))
        key = (accessed, str(meta_file))
        if (best is not None and key <= best) or not _intact(body, sha256):
            continue
        best = key
        found = FetchRecord(meta.get("etag"), meta.get("last_modified"), sha256, body)
    return found


def _intact(path: Path, sha256: str) -> bool:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest() == sha256
    except OSError:
        return False
