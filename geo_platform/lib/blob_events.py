"""Blob Storage events, as Event Grid writes them to a Storage Queue, parsed into plain records.

Azure Blob Storage publishes ``Microsoft.Storage.BlobCreated`` and ``Microsoft.Storage.BlobDeleted``
to Event Grid; an Event Grid subscription whose endpoint is a Storage Queue writes one event per
message. Two schemas exist (the subscription chooses):

- the **Event Grid schema**: ``{"eventType", "subject", "eventTime", "id", "data": {...}, ...}``;
- the **CloudEvents 1.0 schema**: ``{"type", "subject", "time", "id", "source", "specversion",
  "data": {...}}``.

Both carry ``subject`` = ``/blobServices/default/containers/<container>/blobs/<path>`` (the blob
name as stored, not URL-encoded) and ``data`` with ``eTag``, ``contentLength``, ``url`` (the
same location, URL-encoded), ``api`` and ``sequencer`` (ordering of the events of one blob,
compared as strings). ``BlobDeleted`` carries no eTag. Event Grid writes the message body
base64-encoded; other producers (and our tests) may write plain JSON, and a body may hold a
JSON array of events: ``parse_message`` accepts all of them.

Pure: values in, values out (no queue, no Dagster, no blob store).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from geo_platform.lib.errors import DecodingError

BlobEventKind = Literal["created", "deleted"]
EVENT_KINDS: dict[str, BlobEventKind] = {
    "Microsoft.Storage.BlobCreated": "created",
    "Microsoft.Storage.BlobDeleted": "deleted",
}
SUBJECT_PREFIX = "/blobServices/default/containers/"
IGNORED_APIS = frozenset({"CreateFile"})
"""On accounts with a hierarchical namespace (ADLS Gen2), ``CreateFile`` announces an empty
file that ``FlushWithClose`` then fills (a second BlobCreated, with the final eTag): only the
second one is a file to publish."""


@dataclass(frozen=True)
class BlobEvent:
    """One blob created (or overwritten) or deleted."""

    container: str
    path: str
    etag: str
    """The new content's eTag, without quotes (as ``BlobInfo.etag``); '' for a deletion."""
    kind: BlobEventKind
    size: int | None = None
    sequencer: str = ""
    event_id: str = ""
    time: str = ""


@dataclass
class ParsedMessage:
    """What one queue message holds: blob events, and events of other types (ignored)."""

    events: list[BlobEvent] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    """Why each ignored event was left out ('Microsoft.Storage.BlobRenamed', 'CreateFile'...)."""


def decode_body(body: str | bytes) -> list[dict[str, Any]]:
    """The events in a message body: JSON, or base64 of JSON (Event Grid's encoding); an
    object or an array of objects. Raises ``DecodingError`` for anything else."""
    raw = body.encode() if isinstance(body, str) else bytes(body)
    text = raw.strip()
    if not text:
        raise DecodingError("empty message")
    if text[:1] not in (b"{", b"["):  # base64 never starts with a brace or a bracket
        try:
            text = base64.b64decode(text, validate=True).strip()
        except (binascii.Error, ValueError) as exc:
            raise DecodingError(f"neither JSON nor base64: {_preview(raw)}") from exc
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodingError(f"not JSON ({exc}): {_preview(text)}") from exc
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, dict) for item in items):
        raise DecodingError(f"not an event or a list of events: {_preview(text)}")
    return items


def parse_event(event: dict[str, Any]) -> BlobEvent | str:
    """A ``BlobEvent``, or the reason the event is ignored (another type, ``CreateFile``).

    Raises ``DecodingError`` for a blob event without a usable subject or url, or a
    BlobCreated without an eTag (the version the run keys and the ledger are about)."""
    etype = event.get("eventType", event.get("type"))
    if not isinstance(etype, str):
        raise DecodingError(f"no eventType or type: {_preview(json.dumps(event))}")
    kind = EVENT_KINDS.get(etype)
    if kind is None:
        return etype
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    api = data.get("api")
    if kind == "created" and api in IGNORED_APIS:
        return f"{etype} ({api})"
    container, path = _location(event.get("subject"), data.get("url"))
    etag = str(data.get("eTag") or "").strip('"') if kind == "created" else ""
    if kind == "created" and not etag:
        raise DecodingError(f"{etype} without an eTag", path=path)
    size = data.get("contentLength")
    return BlobEvent(
        container=container,
        path=path,
        etag=etag,
        kind=kind,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        sequencer=str(data.get("sequencer") or ""),
        event_id=str(event.get("id") or ""),
        time=str(event.get("eventTime", event.get("time")) or ""),
    )


def parse_message(body: str | bytes) -> ParsedMessage:
    """Every event of one queue message (see ``decode_body`` and ``parse_event``)."""
    out = ParsedMessage()
    for item in decode_body(body):
        parsed = parse_event(item)
        if isinstance(parsed, BlobEvent):
            out.events.append(parsed)
        else:
            out.ignored.append(parsed)
    return out


def latest_per_blob(events: Iterable[BlobEvent]) -> list[BlobEvent]:
    """The last event of each blob, in first-seen order.

    A queue does not keep order: a blob written then deleted within one batch may arrive
    deleted-first. The ``sequencer`` orders the events of one blob name (as strings); between
    equal sequencers the later arrival wins. The last event says what the blob is now."""
    latest: dict[tuple[str, str], tuple[int, BlobEvent]] = {}
    for i, event in enumerate(events):
        key = (event.container, event.path)
        seen = latest.get(key)
        if seen is None:
            latest[key] = (i, event)
        elif event.sequencer >= seen[1].sequencer:
            latest[key] = (seen[0], event)
    return [event for _, event in sorted(latest.values(), key=lambda pair: pair[0])]


def _location(subject: object, url: object) -> tuple[str, str]:
    """(container, blob path) from the subject, else from the URL (percent-decoded)."""
    if isinstance(subject, str) and subject.startswith(SUBJECT_PREFIX):
        container, sep, path = subject[len(SUBJECT_PREFIX) :].partition("/blobs/")
        if sep and container and path:
            return container, path
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        segments = [unquote(s) for s in parts.path.lstrip("/").split("/")]
        # https://<account>.blob.core.windows.net/<container>/<path>; an emulator (Azurite)
        # on an IP address or localhost puts the account first: http://127.0.0.1:10000/<account>/
        if _path_style(parts.hostname or ""):
            segments = segments[1:]
        if len(segments) >= 2 and all(segments):
            return segments[0], "/".join(segments[1:])
    raise DecodingError(f"no blob location in subject {subject!r} or url {url!r}")


def _path_style(host: str) -> bool:
    return host == "localhost" or host.replace(".", "").isdigit() or ":" in host


def _preview(text: bytes | str, limit: int = 120) -> str:
    shown = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return repr(shown[:limit] + ("..." if len(shown) > limit else ""))
