"""Blob events as Event Grid writes them to a Storage Queue: both schemas, both encodings."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from geo_platform.lib.blob_events import (
    BlobEvent,
    decode_body,
    latest_per_blob,
    parse_event,
    parse_message,
)
from geo_platform.lib.errors import DecodingError

TOPIC = "/subscriptions/0000/resourceGroups/geo/providers/Microsoft.Storage/storageAccounts/geo"


def event_grid(etype: str, container: str, path: str, **data: Any) -> dict[str, Any]:
    """An event in the Event Grid schema (as in Azure's documentation)."""
    return {
        "topic": TOPIC,
        "subject": f"/blobServices/default/containers/{container}/blobs/{path}",
        "eventType": f"Microsoft.Storage.{etype}",
        "eventTime": "2026-11-02T10:00:00.1234567Z",
        "id": "831e1650-001e-001b-66ab-eeb76e069631",
        "data": {
            "api": "PutBlockList" if etype == "BlobCreated" else "DeleteBlob",
            "blobType": "BlockBlob",
            "url": f"https://geo.blob.core.windows.net/{container}/{path}",
            "sequencer": "00000000000004420000000000028963",
            **data,
        },
        "dataVersion": "",
        "metadataVersion": "1",
    }


def cloud_event(etype: str, container: str, path: str, **data: Any) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema."""
    eg = event_grid(etype, container, path, **data)
    return {
        "specversion": "1.0",
        "type": eg["eventType"],
        "source": TOPIC,
        "subject": eg["subject"],
        "id": eg["id"],
        "time": eg["eventTime"],
        "data": eg["data"],
    }


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


CREATED = {"eTag": "0x8DC0FFEE12345678", "contentLength": 524288}


@pytest.mark.parametrize("schema", [event_grid, cloud_event])
@pytest.mark.parametrize("encode", [b64, json.dumps])
def test_blob_created_in_both_schemas_and_encodings(schema, encode):
    parsed = parse_message(encode(schema("BlobCreated", "bronze", "rasters/dem.tif", **CREATED)))
    assert parsed.ignored == []
    assert parsed.events == [
        BlobEvent(
            container="bronze",
            path="rasters/dem.tif",
            etag="0x8DC0FFEE12345678",
            kind="created",
            size=524288,
            sequencer="00000000000004420000000000028963",
            event_id="831e1650-001e-001b-66ab-eeb76e069631",
            time="2026-11-02T10:00:00.1234567Z",
        )
    ]


@pytest.mark.parametrize("schema", [event_grid, cloud_event])
def test_blob_deleted_has_no_etag(schema):
    (event,) = parse_message(b64(schema("BlobDeleted", "bronze", "v/roads.gpkg"))).events
    assert (event.container, event.path, event.etag, event.kind) == (
        "bronze",
        "v/roads.gpkg",
        "",
        "deleted",
    )


def test_quoted_etag_is_unquoted_like_the_blob_store_does():
    raw = event_grid("BlobCreated", "bronze", "a.tif", eTag='"0x8DC1"', contentLength=3)
    assert parse_event(raw).etag == "0x8DC1"  # type: ignore[union-attr]


def test_names_with_spaces_and_unicode_come_from_the_subject_as_stored():
    path = "scans/Übersicht 2020 #1.tif"
    event = parse_event(event_grid("BlobCreated", "bronze", path, **CREATED))
    assert isinstance(event, BlobEvent) and event.path == path


def test_location_from_the_url_when_the_subject_is_missing():
    raw = event_grid("BlobCreated", "bronze", "x", **CREATED)
    del raw["subject"]
    raw["data"]["url"] = "https://geo.blob.core.windows.net/bronze/dir/na%20me%23.tif"
    assert parse_event(raw).path == "dir/na me#.tif"  # type: ignore[union-attr]
    # Azurite and other path-style endpoints put the account first.
    raw["data"]["url"] = "http://127.0.0.1:10000/devstoreaccount1/bronze/dir/a.tif"
    event = parse_event(raw)
    assert isinstance(event, BlobEvent)
    assert (event.container, event.path) == ("bronze", "dir/a.tif")


def test_an_array_of_events_in_one_message():
    body = json.dumps(
        [
            event_grid("BlobCreated", "bronze", "a.tif", **CREATED),
            cloud_event("BlobDeleted", "bronze", "b.tif"),
            {"eventType": "Microsoft.Storage.BlobTierChanged", "subject": "x", "data": {}},
        ]
    )
    parsed = parse_message(body)
    assert [(e.path, e.kind) for e in parsed.events] == [("a.tif", "created"), ("b.tif", "deleted")]
    assert parsed.ignored == ["Microsoft.Storage.BlobTierChanged"]


def test_adls_create_file_is_ignored_its_flush_is_the_file():
    empty = event_grid("BlobCreated", "bronze", "a.tif", api="CreateFile", eTag="0x1")
    flushed = event_grid("BlobCreated", "bronze", "a.tif", api="FlushWithClose", **CREATED)
    assert parse_event(empty) == "Microsoft.Storage.BlobCreated (CreateFile)"
    assert isinstance(parse_event(flushed), BlobEvent)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "not base64 at all!",
        base64.b64encode(b"\xff\xfe not json").decode(),
        b64("just a string"),
        b64([1, 2]),
        "{not json",
    ],
)
def test_unreadable_bodies_raise_decoding_error(body):
    with pytest.raises(DecodingError):
        decode_body(body)


@pytest.mark.parametrize(
    "raw",
    [
        {"subject": "/blobServices/default/containers/bronze/blobs/a.tif", "data": {}},
        {"eventType": "Microsoft.Storage.BlobCreated", "subject": "/nowhere", "data": {}},
        event_grid("BlobCreated", "bronze", "a.tif"),  # no eTag: no version to run
    ],
)
def test_blob_events_without_type_location_or_etag_raise(raw):
    with pytest.raises(DecodingError):
        parse_event(raw)


def _ev(path: str, kind: str, sequencer: str, etag: str = "e") -> BlobEvent:
    return BlobEvent("bronze", path, etag if kind == "created" else "", kind, 1, sequencer)  # type: ignore[arg-type]


def test_latest_per_blob_orders_by_sequencer_not_arrival():
    events = [
        _ev("a.tif", "deleted", "0002"),  # arrived first, happened last
        _ev("b.tif", "created", "0001", "b1"),
        _ev("a.tif", "created", "0001", "a1"),
        _ev("b.tif", "created", "0003", "b2"),
        _ev("b.tif", "created", "0003", "b2"),  # duplicate delivery
    ]
    latest = latest_per_blob(events)
    assert [(e.path, e.kind, e.etag) for e in latest] == [
        ("a.tif", "deleted", ""),
        ("b.tif", "created", "b2"),
    ]
