"""Blob store on Azure Blob Storage (or the Azurite emulator, through a connection string).

Authentication: a connection string (Azurite, or an account key / SAS in development), or an
``account_url`` with ``DefaultAzureCredential`` (managed identity, workload identity, az login) in
production. Credentials never leave the client: ``href`` and ``describe`` are credential-free.
``href`` is the blob's URL under the account (or under ``public_url``, e.g. a CDN in front of the
account, from GEO_PLATFORM_PUBLIC_BASE_URL): ``<base>/<container>/<path>``, segments quoted.
"""

from __future__ import annotations

import mimetypes
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.blob import (
    BlobClient,
    BlobProperties,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    ExponentialRetry,
)
from pydantic import PrivateAttr, model_validator

from geo_platform.lib.errors import (
    ConfigError,
    GeoPlatformError,
    NotFoundError,
    StorageUnavailableError,
)
from geo_platform.lib.links import blob_url
from geo_platform.lib.types import BlobInfo
from geo_platform.store.blobs.base import (
    BlobStore,
    basename,
    check_container,
    clean_path,
    clean_prefix,
)
from geo_platform.store.secret_config import (
    connection_string_by_reference,
    resolve_connection_string,
)

_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 10,
    "read_timeout": 120,
    # Bounded memory for streamed transfers: 4 MiB blocks, single PUT only below 8 MiB.
    "max_block_size": 4 * 1024 * 1024,
    "max_single_put_size": 8 * 1024 * 1024,
    "max_chunk_get_size": 4 * 1024 * 1024,
}


_REFUSED_STATUS = {401, 403}


def refused_message(account: str, exc: HttpResponseError) -> str:
    """What to check when the account refuses the credentials (a wrong key in the connection
    string, an expired SAS, an identity without a data role): one line, never the key."""
    code = getattr(exc, "error_code", None) or exc.reason or ""
    code = getattr(code, "value", code)  # StorageErrorCode.X -> its service name
    status = f"HTTP {exc.status_code} {code}".strip()
    return (
        f"authentication failed on the Azure storage account {account!r} ({status}): check "
        "AZURE_STORAGE_CONNECTION_STRING (the account key or SAS), or with "
        "AZURE_STORAGE_ACCOUNT_URL the identity's 'Storage Blob Data Contributor' role"
    )


@contextmanager
def _azure_errors(container: str, path: str | None = None, account: str = "") -> Iterator[None]:
    """Translate SDK exceptions into the platform's hierarchy (transient vs. not found vs.
    credentials refused: a ``ConfigError`` naming the account and what to check)."""
    where = f"{container}/{path}" if path else container
    try:
        yield
    except ResourceNotFoundError as exc:
        raise NotFoundError(f"not found in Azure storage ({exc.reason})", path=where) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StorageUnavailableError(f"Azure storage unreachable: {exc}", path=where) from exc
    except HttpResponseError as exc:
        if isinstance(exc, ClientAuthenticationError) or exc.status_code in _REFUSED_STATUS:
            raise ConfigError(refused_message(account or "?", exc), path=where) from exc
        if exc.status_code in _TRANSIENT_STATUS:
            raise StorageUnavailableError(
                f"Azure storage busy or failing (HTTP {exc.status_code})", path=where
            ) from exc
        raise


def _etag(value: str | None) -> str:
    return (value or "").strip('"')


def _info(props: BlobProperties) -> BlobInfo:
    return BlobInfo(
        path=props.name,
        size=int(props.size or 0),
        etag=_etag(props.etag),
        last_modified=props.last_modified,
    )


class AzureBlobStore(BlobStore):
    """Containers and blobs of one Azure storage account."""

    connection_string: str | None = None
    """A connection string, or ``env:NAME``: the variable holding it, read when the client is
    made (one equal to AZURE_STORAGE_CONNECTION_STRING is turned into that reference, so the
    account key stays out of Dagster's job snapshots and UI)."""
    account_url: str | None = None
    public_url: str | None = None
    """Base URL of hrefs instead of the account URL (a CDN or front door); None: the account."""
    page_size: int = 1000
    max_concurrency: int = 4
    retries: int = 3
    """SDK retries (1 s, 3 s, 5 s apart); beyond that Dagster's RetryPolicy takes over."""

    _service: BlobServiceClient | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _no_key_in_config(cls, data: Any) -> Any:
        return connection_string_by_reference(data)

    # --- clients ---------------------------------------------------------------------------
    def _client(self) -> BlobServiceClient:
        if self._service is None:
            # The SDK default backs off for about a minute; fail over to Dagster sooner.
            retry = ExponentialRetry(initial_backoff=1, increment_base=2, retry_total=self.retries)
            options = {**_CLIENT_OPTIONS, "retry_policy": retry}
            connection_string = resolve_connection_string(self.connection_string)
            if connection_string:
                self._service = BlobServiceClient.from_connection_string(
                    connection_string, **options
                )
            elif self.account_url:
                from azure.identity import DefaultAzureCredential

                self._service = BlobServiceClient(
                    self.account_url, credential=DefaultAzureCredential(), **options
                )
            else:
                raise ConfigError(
                    "Azure blob store needs AZURE_STORAGE_CONNECTION_STRING or "
                    "AZURE_STORAGE_ACCOUNT_URL"
                )
        return self._service

    def _container(self, container: str) -> ContainerClient:
        return self._client().get_container_client(check_container(container))

    def _blob(self, container: str, path: str) -> tuple[str, BlobClient]:
        clean = clean_path(path)
        return clean, self._container(container).get_blob_client(clean)

    def _errors(self, container: str, path: str | None = None) -> AbstractContextManager[None]:
        """``_azure_errors`` naming this store's account."""
        return _azure_errors(container, path, self._client().account_name or "")

    def container_exists(self, container: str) -> bool:
        """Whether ``container`` exists (never creates it; credentials refused: ConfigError)."""
        client = self._container(container)
        with self._errors(container):
            return bool(client.exists())

    def _account_url(self) -> str:
        """The account endpoint without any query string (a SAS would be a secret)."""
        parts = urlsplit(self._client().url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))

    # --- listing and metadata --------------------------------------------------------------
    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        prefix = clean_prefix(prefix)
        client = self._container(container)
        with self._errors(container, prefix):
            pages = client.list_blobs(
                name_starts_with=prefix or None, results_per_page=self.page_size
            ).by_page()
            for page in pages:  # one page (page_size blobs) in memory at a time
                for props in page:
                    yield _info(props)

    def stat(self, container: str, path: str) -> BlobInfo | None:
        clean, blob = self._blob(container, path)
        try:
            with self._errors(container, clean):
                props = blob.get_blob_properties()
        except NotFoundError:
            return None
        return BlobInfo(clean, int(props.size), _etag(props.etag), props.last_modified)

    # --- reading ---------------------------------------------------------------------------
    def download_to(self, container: str, path: str, dest: Path) -> Path:
        clean, blob = self._blob(container, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(dest.name + ".partial")
        try:
            with self._errors(container, clean), partial.open("wb") as fh:
                blob.download_blob(max_concurrency=self.max_concurrency).readinto(fh)
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
        return dest

    def read_range(self, container: str, path: str, offset: int, length: int) -> bytes:
        clean, blob = self._blob(container, path)
        with self._errors(container, clean):
            return bytes(blob.download_blob(offset=offset, length=length).readall())

    @contextmanager
    def local_copy(self, container: str, path: str) -> Iterator[Path]:
        clean = clean_path(path)
        tmp = tempfile.mkdtemp(prefix="geo-platform-", dir=self.tmp_dir)
        try:
            yield self.download_to(container, clean, Path(tmp) / basename(clean))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    # --- writing ---------------------------------------------------------------------------
    def _upload(
        self, container: str, path: str, data: bytes | IO[bytes], length: int, ctype: str | None
    ) -> BlobInfo:
        clean, blob = self._blob(container, path)
        ctype = ctype or mimetypes.guess_type(clean)[0] or "application/octet-stream"
        with self._errors(container, clean):
            # Block blobs become visible only when the block list commits: atomic for readers.
            result = blob.upload_blob(
                data,
                length=length,
                overwrite=True,
                max_concurrency=self.max_concurrency,
                content_settings=ContentSettings(content_type=ctype),
            )
        return BlobInfo(clean, length, _etag(result.get("etag")), result.get("last_modified"))

    def upload_file(
        self, container: str, path: str, src: Path, content_type: str | None = None
    ) -> BlobInfo:
        with open(src, "rb") as fh:
            return self._upload(container, path, fh, os.fstat(fh.fileno()).st_size, content_type)

    def upload_bytes(
        self, container: str, path: str, data: bytes, content_type: str | None = None
    ) -> BlobInfo:
        return self._upload(container, path, data, len(data), content_type)

    def delete(self, container: str, path: str) -> bool:
        clean, blob = self._blob(container, path)
        try:
            with self._errors(container, clean):
                blob.delete_blob(delete_snapshots="include")
        except NotFoundError:
            return False
        return True

    def move(self, container: str, src: str, dst: str) -> BlobInfo:
        """Server-side copy then delete of the source (Azure has no rename for blobs).

        Same-account copies complete synchronously in practice; the loop waits for the rare
        pending copy so the source is never deleted before the destination is whole.
        """
        src_clean, source = self._blob(container, src)
        dst_clean, target = self._blob(container, dst)
        if src_clean == dst_clean:  # copy onto itself then delete would lose the blob
            info = self.stat(container, src_clean)
            if info is None:
                raise NotFoundError(f"blob not found in container {container!r}", path=src_clean)
            return info
        with self._errors(container, src_clean):
            source.get_blob_properties()  # NotFoundError before touching the destination
            target.start_copy_from_url(source.url)
            props = target.get_blob_properties()
            deadline = time.monotonic() + 600
            while props.copy.status == "pending" and time.monotonic() < deadline:
                time.sleep(0.5)
                props = target.get_blob_properties()
            if props.copy.status not in (None, "success"):
                raise GeoPlatformError(
                    f"copy to {dst_clean!r} ended with status {props.copy.status}", path=src_clean
                )
            source.delete_blob(delete_snapshots="include")
        return BlobInfo(dst_clean, int(props.size), _etag(props.etag), props.last_modified)

    def ensure_container(self, container: str) -> None:
        client = self._container(container)
        try:
            with self._errors(container):
                client.create_container()
        except ResourceExistsError:
            pass

    # --- describing ------------------------------------------------------------------------
    def href(self, container: str, path: str) -> str:
        base = self.public_url or self._account_url()
        return blob_url(base, check_container(container), clean_path(path))

    def describe(self) -> dict[str, Any]:
        return {"backend": "azure", "location": self._account_url()}
