"""The blob store interface shared by the local-folder and Azure implementations.

Why an interface: bronze and silver data live in Azure Blob Storage in production and in a plain
folder on a laptop or in CI; assets, sensors and the CLI talk to ``BlobStore`` only, and the
contract test suite runs the same tests against both backends (Azure via Azurite).

Conventions every implementation follows:
- ``container`` is an Azure-style container name (3-63 lowercase letters, digits, hyphens);
- blob paths are relative POSIX paths cleaned by ``naming.normalize_blob_path`` (so ``..`` and
  absolute paths are refused with ``UnsafePathError``); names are otherwise kept byte for byte
  (spaces, quotes, ``#``, ``?``, ``%``, NFC and NFD Unicode all round-trip);
- listings stream in path order and never hold a whole container in memory;
- uploads are atomic for readers: a blob is either the old content or the new one;
- ``href`` gives readers (GDAL, titiler, STAC clients) a location without any credential.
"""

from __future__ import annotations

import re
import tempfile
from abc import abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict

from geo_platform.lib.errors import ConfigError, InputError, UnsafePathError
from geo_platform.lib.naming import normalize_blob_path
from geo_platform.lib.types import BlobInfo

_CONTAINER_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


def check_container(container: str) -> str:
    """The container name if it is valid on Azure (and therefore on every backend)."""
    if not _CONTAINER_RE.match(container or ""):
        raise ConfigError(
            "invalid container name (3-63 lowercase letters, digits and single hyphens)",
            path=container,
        )
    return container


def clean_path(path: str) -> str:
    """A blob path through the one sanitizer (refuses ``..``, absolute and empty paths)."""
    return normalize_blob_path(path)


def clean_prefix(prefix: str) -> str:
    """A listing prefix: '' (everything), a folder ``a/b/`` or a name start ``a/b/na``."""
    if not prefix:
        return ""
    cleaned = normalize_blob_path(prefix)
    return cleaned + "/" if prefix.replace("\\", "/").endswith("/") else cleaned


def basename(path: str) -> str:
    return PurePosixPath(path).name


class BlobStore(BaseModel):
    """A place holding containers of blobs (a local folder, or an Azure storage account).

    A plain pydantic model (no Dagster): Definitions hand it to assets and sensors as a
    ``dg.ResourceParam[BlobStore]``; workflows and the CLI use it directly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tmp_dir: str | None = None
    """Where local copies of blobs are made (default: the system temp folder). Point it at a
    disk with room for the largest input when /tmp is small or in memory."""

    # --- listing and metadata --------------------------------------------------------------
    @abstractmethod
    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Every blob under ``prefix`` in path order, streamed (pages, not the whole list)."""

    @abstractmethod
    def stat(self, container: str, path: str) -> BlobInfo | None:
        """Size, etag and modification time of one blob, or None if it does not exist."""

    def exists(self, container: str, path: str) -> bool:
        return self.stat(container, path) is not None

    # --- reading ---------------------------------------------------------------------------
    @abstractmethod
    def download_to(self, container: str, path: str, dest: Path) -> Path:
        """Stream the blob into the file ``dest`` (parents created); ``NotFoundError`` if absent."""

    @abstractmethod
    @contextmanager
    def local_copy(self, container: str, path: str) -> Iterator[Path]:
        """A local file with the blob's content and basename, valid inside the ``with`` block.

        Treat it as read-only: the local backend hands out the stored file itself.
        """

    @contextmanager
    def local_copies(self, container: str, paths: Iterable[str]) -> Iterator[dict[str, Path]]:
        """Several blobs side by side in one folder under their basenames ({path: file}).

        For formats made of several files that must sit together (shapefile parts, world
        files, .aux.xml): GDAL finds the sidecars next to the main file.
        """
        cleaned = [clean_path(p) for p in paths]
        _check_unique_basenames(cleaned)
        with tempfile.TemporaryDirectory(prefix="geo-platform-", dir=self.tmp_dir) as tmp:
            out = {p: self.download_to(container, p, Path(tmp) / basename(p)) for p in cleaned}
            yield out

    def read_head(self, container: str, path: str, length: int) -> bytes:
        """The first ``length`` bytes of a blob (fewer if it is shorter): a ranged read, so
        recognising a file by its content costs one small request, not a download."""
        return self.read_range(container, path, 0, length)

    def read_range(self, container: str, path: str, offset: int, length: int) -> bytes:
        """``length`` bytes of a blob from ``offset`` (fewer at its end): the last bytes of a
        zip list its members (``lib.zip_kind``)."""
        with self.local_copy(container, path) as local, local.open("rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    # --- writing ---------------------------------------------------------------------------
    @abstractmethod
    def upload_file(
        self, container: str, path: str, src: Path, content_type: str | None = None
    ) -> BlobInfo:
        """Store the file ``src`` at ``path`` (streamed, replaces atomically); return its info."""

    @abstractmethod
    def upload_bytes(
        self, container: str, path: str, data: bytes, content_type: str | None = None
    ) -> BlobInfo:
        """Store small in-memory content (STAC JSON, thumbnails) at ``path``."""

    @abstractmethod
    def delete(self, container: str, path: str) -> bool:
        """Delete one blob; False if it did not exist."""

    def delete_prefix(self, container: str, prefix: str) -> int:
        """Delete every blob under ``prefix`` (refuses the empty prefix); return how many."""
        if not clean_prefix(prefix):
            raise UnsafePathError("refusing to delete a whole container", path=container)
        return sum(
            1 for info in self.list_blobs(container, prefix) if self.delete(container, info.path)
        )

    @abstractmethod
    def move(self, container: str, src: str, dst: str) -> BlobInfo:
        """Rename a blob (replacing ``dst``): publish from a temporary name."""

    @abstractmethod
    def ensure_container(self, container: str) -> None:
        """Create the container if it does not exist."""

    # --- describing ------------------------------------------------------------------------
    @abstractmethod
    def href(self, container: str, path: str) -> str:
        """Where readers find the blob: a local absolute path or a credential-free URL."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Backend and location, for logs and metadata (never a secret)."""


def _check_unique_basenames(paths: list[str]) -> None:
    seen: dict[str, str] = {}
    for p in paths:
        name = basename(p)
        if name in seen and seen[name] != p:
            raise InputError(f"blobs {seen[name]!r} and {p!r} share a file name", path=p)
        seen[name] = p
