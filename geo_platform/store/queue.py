"""An Azure Storage Queue of blob events (Event Grid's queue destination), with azure-storage-queue.

Only what the event sensor needs: receive a batch with a visibility timeout (the messages stay in
the queue, hidden, until deleted or until the timeout passes), delete received messages by id
and pop receipt, and send (tests, benchmarks, the set-up check). No Dagster here.

Azure's queue API has no batch delete and returns at most 32 messages a request, so ``receive``
and ``delete`` spread their requests over a few threads sharing one connection pool: a batch
of 1,000 events costs about 32 receive requests and 1,000 deletes, not 1,000 round trips in a
row. ``delete`` can stop starting requests after a time budget and return what it left.

Authentication as for the blob store: a connection string (Azurite; ``env:NAME`` keeps the key
out of Dagster's snapshots, see ``store.secret_config``), or an ``account_url`` of the queue
service with ``DefaultAzureCredential``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, PrivateAttr, model_validator

from geo_platform.lib.errors import ConfigError, StorageUnavailableError
from geo_platform.store.secret_config import (
    connection_string_by_reference,
    resolve_connection_string,
)

if TYPE_CHECKING:  # azure.storage.queue loads aiohttp (0.15 s), requests and azure-core 0.1 s:
    # imported where a queue is used
    import requests
    from azure.storage.queue import QueueClient

MAX_PER_REQUEST = 32
"""Azure's limit of messages returned by one receive request."""
_WORKERS = 8
_GONE = {"MessageNotFound", "PopReceiptMismatch", "QueueNotFound"}
_HTTP_LOG = logging.getLogger(__name__ + ".http")
"""The SDK logs every request and response at INFO (two records a message, thousands a tick):
our clients log them at WARNING and above only; failures surface as exceptions."""
_HTTP_LOG.setLevel(logging.WARNING)


@dataclass(frozen=True)
class QueueMessage:
    """One received message. ``pop_receipt`` is what deleting it takes (it changes whenever
    the message is received again)."""

    id: str
    pop_receipt: str
    content: str
    dequeue_count: int = 1
    inserted_on: datetime | None = None


@dataclass
class DeleteReport:
    """What deleting a set of received messages did."""

    deleted: int = 0
    gone: int = 0
    """Already deleted, or received again since (its pop receipt changed): nothing to do,
    the new receipt deletes it after its own processing."""
    failed: dict[str, str] = field(default_factory=dict)
    """message id -> error: the message comes back after its visibility timeout."""
    left: list[tuple[str, str]] = field(default_factory=list)
    """Receipts not tried because the time budget ran out (delete them later)."""


class EventQueue(BaseModel):
    """One storage queue. Plain pydantic model (a Dagster ``ResourceParam``, like ``BlobStore``)."""

    model_config = ConfigDict(frozen=False)

    queue_name: str
    connection_string: str | None = None
    """A connection string with a QueueEndpoint (or AccountName/AccountKey), or ``env:NAME``."""
    account_url: str | None = None
    """``https://<account>.queue.core.windows.net`` (used with DefaultAzureCredential)."""
    timeout: int = 20

    _client: QueueClient | None = PrivateAttr(default=None)
    _session: requests.Session | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_config(cls, data: Any) -> Any:
        return connection_string_by_reference(data)

    @property
    def configured(self) -> bool:
        return bool(self.queue_name)

    def client(self) -> QueueClient:
        if self._client is None:
            import requests
            from azure.core.pipeline.transport import RequestsTransport
            from azure.storage.queue import QueueServiceClient
            from requests.adapters import HTTPAdapter
            from urllib3.util.retry import Retry

            if not self.queue_name:
                raise ConfigError("no event queue configured (GEO_PLATFORM_EVENT_QUEUE)")
            session = requests.Session()
            # Enough pooled connections for the worker threads; the SDK does the retries.
            adapter = HTTPAdapter(pool_maxsize=_WORKERS * 2, max_retries=Retry(total=False))
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            options: dict[str, Any] = {
                "transport": RequestsTransport(session=session, session_owner=False),
                "connection_timeout": 10,
                "read_timeout": self.timeout,
                "logger": _HTTP_LOG,
            }
            conn = resolve_connection_string(self.connection_string)
            if conn:
                service = QueueServiceClient.from_connection_string(conn, **options)
            elif self.account_url:
                from azure.identity import DefaultAzureCredential

                service = QueueServiceClient(
                    self.account_url, credential=DefaultAzureCredential(), **options
                )
            else:
                raise ConfigError(
                    "the event queue needs AZURE_STORAGE_CONNECTION_STRING (with a queue "
                    "endpoint) or AZURE_STORAGE_ACCOUNT_URL",
                    path=self.queue_name,
                )
            self._session = session
            self._client = service.get_queue_client(self.queue_name)
        return self._client

    def ensure_queue(self) -> None:
        """Create the queue if it does not exist."""
        from azure.core.exceptions import ResourceExistsError

        try:
            with _queue_errors(self.queue_name):
                self.client().create_queue()
        except ResourceExistsError:
            pass

    def approximate_count(self) -> int:
        with _queue_errors(self.queue_name):
            props = self.client().get_queue_properties()
        return int(props.approximate_message_count or 0)

    def send(self, contents: Iterable[str]) -> int:
        """Send messages (text as given: Event Grid's base64, or plain JSON)."""
        client = self.client()
        items = list(contents)
        with _queue_errors(self.queue_name), ThreadPoolExecutor(_WORKERS) as pool:
            list(pool.map(client.send_message, items))
        return len(items)

    def receive(self, max_messages: int, visibility_timeout: int) -> list[QueueMessage]:
        """Up to ``max_messages`` messages, hidden from other receivers for
        ``visibility_timeout`` seconds (then visible again unless deleted)."""
        if max_messages <= 0:
            return []
        requests_needed = -(-max_messages // MAX_PER_REQUEST)
        workers = max(1, min(_WORKERS, requests_needed))
        shares = [max_messages // workers + (i < max_messages % workers) for i in range(workers)]
        with _queue_errors(self.queue_name), ThreadPoolExecutor(workers) as pool:
            batches = list(pool.map(lambda n: self._receive(n, visibility_timeout), shares))
        return [m for batch in batches for m in batch]

    def _receive(self, n: int, visibility_timeout: int) -> list[QueueMessage]:
        out: list[QueueMessage] = []
        client = self.client()
        while len(out) < n:
            want = min(MAX_PER_REQUEST, n - len(out))
            page = client.receive_messages(
                messages_per_page=want, max_messages=want, visibility_timeout=visibility_timeout
            )
            got = [_message(m) for m in page]
            out.extend(got)
            if len(got) < want:  # the queue has nothing more visible
                break
        return out

    def delete(
        self, receipts: Sequence[tuple[str, str]], budget_s: float | None = None
    ) -> DeleteReport:
        """Delete received messages, given as (message id, pop receipt), in order.

        Azure deletes one message a request. With ``budget_s``, no request is started after
        that many seconds: the receipts not tried are returned (``left``), to delete later."""
        report = DeleteReport()
        if not receipts:
            return report
        client = self.client()
        deadline = None if budget_s is None else time.monotonic() + budget_s
        pending = iter(enumerate(receipts))
        taken = threading.Lock()
        outcome: dict[int, tuple[str, str]] = {}

        def worker() -> None:
            while True:
                with taken:
                    if deadline is not None and time.monotonic() >= deadline:
                        return
                    item = next(pending, None)
                if item is None:
                    return
                outcome[item[0]] = _delete_one(client, *item[1])

        with ThreadPoolExecutor(min(_WORKERS, len(receipts))) as pool:
            for future in [pool.submit(worker) for _ in range(min(_WORKERS, len(receipts)))]:
                future.result()
        for i, receipt in enumerate(receipts):
            status, error = outcome.get(i, ("left", ""))
            if status == "deleted":
                report.deleted += 1
            elif status == "gone":
                report.gone += 1
            elif status == "failed":
                report.failed[receipt[0]] = error
            else:
                report.left.append(receipt)
        return report

    def clear(self) -> None:
        """Delete every message (tests and benchmarks)."""
        with _queue_errors(self.queue_name):
            self.client().clear_messages()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._session is not None:
            self._session.close()
            self._session = None


def _delete_one(client: QueueClient, message_id: str, pop_receipt: str) -> tuple[str, str]:
    """('deleted' | 'gone' | 'failed', error) for one message."""
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

    try:
        client.delete_message(message_id, pop_receipt)
        return "deleted", ""
    except (ResourceNotFoundError, HttpResponseError) as exc:
        if getattr(exc, "error_code", None) in _GONE or exc.status_code == 404:
            return "gone", ""
        return "failed", f"{type(exc).__name__}: {exc}"[:300]
    except Exception as exc:  # network: the message comes back after its timeout
        return "failed", f"{type(exc).__name__}: {exc}"[:300]


def _message(m: Any) -> QueueMessage:
    content = m.content
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    return QueueMessage(
        id=str(m.id),
        pop_receipt=str(m.pop_receipt),
        content=content or "",
        dequeue_count=int(m.dequeue_count or 1),
        inserted_on=m.inserted_on,
    )


@contextmanager
def _queue_errors(queue: str) -> Iterator[None]:
    """A missing queue is a configuration problem; an unreachable or failing service is
    transient (``StorageUnavailableError``: the sensor's next tick tries again)."""
    import requests
    from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

    try:
        yield
    except ResourceExistsError:
        raise
    except ResourceNotFoundError as exc:
        raise ConfigError(f"the queue does not exist ({exc.reason})", path=queue) from exc
    except (AzureError, OSError, requests.RequestException) as exc:
        raise StorageUnavailableError(
            f"queue service failing or unreachable: {exc}", path=queue
        ) from exc
