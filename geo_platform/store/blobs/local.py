"""Blob store on a local folder: ``root/<container>/<path>``.

Used on developer machines and in CI, and as the reference behaviour for the Azure backend.
With ``public_url`` (the platform's setting, GEO_PLATFORM_PUBLIC_BASE_URL or the files server of
``geo-platform serve``), ``href`` is ``<public_url>/<container>/<path>``: what STAC items carry, so
a client on another machine opens it over HTTP. Without it (tools and tests on this machine),
``href`` is the absolute file path. ``file_path`` is always the file itself.
"""

from __future__ import annotations

import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from geo_platform.lib.errors import NotFoundError, UnsafePathError
from geo_platform.lib.links import blob_url
from geo_platform.lib.types import BlobInfo
from geo_platform.store.blobs.base import (
    BlobStore,
    basename,
    check_container,
    clean_path,
    clean_prefix,
)

TMP_DIR = ".geo-platform-tmp"
"""Folder inside each container where uploads are written before their atomic rename."""


def _info(path: str, st: os.stat_result) -> BlobInfo:
    return BlobInfo(
        path=path,
        size=st.st_size,
        etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",  # cheap; changes whenever the file is rewritten
        last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
    )


class LocalBlobStore(BlobStore):
    """Containers are folders under ``root``; blobs are files (written atomically)."""

    root: str
    public_url: str | None = None
    """Base URL under which the containers are served over HTTP; None: hrefs are file paths."""

    # --- path resolution -------------------------------------------------------------------
    def _container_dir(self, container: str) -> Path:
        # resolve(): a symlinked root or container folder is fine, links inside it are checked.
        return (Path(self.root) / check_container(container)).resolve()

    def _resolve(self, container: str, path: str) -> tuple[str, Path]:
        """(clean path, file path) or ``UnsafePathError`` if it would leave the container."""
        clean = clean_path(path)
        if clean == TMP_DIR or clean.startswith(TMP_DIR + "/"):
            raise UnsafePathError(f"{TMP_DIR!r} is reserved for in-progress uploads", path=path)
        base = self._container_dir(container)
        target = base / clean
        # Symlinks (in the file or any folder on the way) must not lead outside the container.
        real = Path(os.path.realpath(target))
        if real != base and base not in real.parents:
            raise UnsafePathError("path resolves outside its container", path=path)
        return clean, target

    # --- listing and metadata --------------------------------------------------------------
    def list_blobs(self, container: str, prefix: str = "") -> Iterator[BlobInfo]:
        base = self._container_dir(container)
        prefix = clean_prefix(prefix)
        folder, _, start = prefix.rpartition("/")
        top = base / folder if folder else base
        if not top.is_dir() or top.is_symlink():
            return
        rel = folder + "/" if folder else ""
        yield from self._walk(base, top, rel, start)

    def _walk(self, base: Path, folder: Path, rel: str, start: str = "") -> Iterator[BlobInfo]:
        """Depth-first, one folder's entries in memory at a time, in global path order.

        Sorting folders as ``name/`` makes the walk order equal the sorted order of full paths
        (``a-b`` sorts before ``a/x`` because ``-`` < ``/``), the order Azure lists in.
        """
        try:
            with os.scandir(folder) as it:
                entries = [e for e in it if e.name.startswith(start)]
        except (FileNotFoundError, NotADirectoryError):
            return
        keyed = []
        for entry in entries:
            if not rel and entry.name == TMP_DIR:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            keyed.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        for _key, is_dir, entry in sorted(keyed, key=lambda k: k[0]):
            path = rel + entry.name
            if is_dir:
                yield from self._walk(base, Path(entry.path), path + "/")
                continue
            info = self._entry_info(base, entry, path)
            if info is not None:
                yield info

    @staticmethod
    def _entry_info(base: Path, entry: os.DirEntry[str], path: str) -> BlobInfo | None:
        try:
            if entry.is_symlink():
                real = Path(os.path.realpath(entry.path))
                if base not in real.parents or not real.is_file():
                    return None  # a link leading outside the container is not a blob
            elif not entry.is_file(follow_symlinks=False):
                return None  # sockets, fifos...
            return _info(path, entry.stat())
        except FileNotFoundError:
            return None  # deleted while listing

    def stat(self, container: str, path: str) -> BlobInfo | None:
        clean, target = self._resolve(container, path)
        try:
            st = target.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return None
            raise
        return _info(clean, st) if target.is_file() else None

    # --- reading ---------------------------------------------------------------------------
    def _existing(self, container: str, path: str) -> tuple[str, Path]:
        clean, target = self._resolve(container, path)
        if not target.is_file():
            raise NotFoundError(f"blob not found in container {container!r}", path=clean)
        return clean, target

    def download_to(self, container: str, path: str, dest: Path) -> Path:
        _, target = self._existing(container, path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target, dest)
        return dest

    def read_range(self, container: str, path: str, offset: int, length: int) -> bytes:
        _, target = self._existing(container, path)
        with target.open("rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    @contextmanager
    def local_copy(self, container: str, path: str) -> Iterator[Path]:
        _, target = self._existing(container, path)
        yield target

    @contextmanager
    def local_copies(self, container: str, paths: Iterable[str]) -> Iterator[dict[str, Path]]:
        """The stored files themselves when they share a folder (no copy), else copies."""
        resolved = [self._existing(container, p) for p in paths]
        folders = {target.parent for _, target in resolved}
        names = {basename(clean) for clean, _ in resolved}
        if len(folders) <= 1 and len(names) == len(resolved):
            yield {clean: target for clean, target in resolved}
            return
        with super().local_copies(container, [clean for clean, _ in resolved]) as copies:
            yield copies

    # --- writing ---------------------------------------------------------------------------
    def _publish(self, container: str, path: str, write: Any) -> BlobInfo:
        """Write through ``write(tmp_path)`` into the container's temp folder, then rename."""
        clean, target = self._resolve(container, path)
        tmp_dir = self._container_dir(container) / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / uuid.uuid4().hex
        try:
            write(tmp)
            for attempt in range(3):  # a concurrent delete may prune the parent folder
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.replace(tmp, target)
                    break
                except FileNotFoundError:
                    if attempt == 2:
                        raise
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                raise UnsafePathError(
                    "name too long for the local file system", path=clean
                ) from exc
            raise
        finally:
            tmp.unlink(missing_ok=True)
        return _info(clean, target.stat())

    def upload_file(
        self, container: str, path: str, src: Path, content_type: str | None = None
    ) -> BlobInfo:
        return self._publish(container, path, lambda tmp: shutil.copyfile(src, tmp))

    def upload_bytes(
        self, container: str, path: str, data: bytes, content_type: str | None = None
    ) -> BlobInfo:
        return self._publish(container, path, lambda tmp: Path(tmp).write_bytes(data))

    def delete(self, container: str, path: str) -> bool:
        _, target = self._resolve(container, path)
        if target.is_dir() and not target.is_symlink():
            return False
        try:
            target.unlink()
        except (FileNotFoundError, NotADirectoryError):
            return False
        self._prune(container, target.parent)
        return True

    def _prune(self, container: str, folder: Path) -> None:
        """Remove folders left empty, up to (not including) the container folder."""
        base = self._container_dir(container)
        while folder != base and base in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                return
            folder = folder.parent

    def move(self, container: str, src: str, dst: str) -> BlobInfo:
        _, source = self._existing(container, src)
        clean, target = self._resolve(container, dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        self._prune(container, source.parent)
        return _info(clean, target.stat())

    def ensure_container(self, container: str) -> None:
        self._container_dir(container).mkdir(parents=True, exist_ok=True)

    # --- describing ------------------------------------------------------------------------
    def href(self, container: str, path: str) -> str:
        clean, target = self._resolve(container, path)
        if self.public_url:
            return blob_url(self.public_url, check_container(container), clean)
        return str(target)

    def file_path(self, container: str, path: str) -> Path:
        """The file holding the blob (for tools on this machine: DuckDB, GDAL, alternates)."""
        return self._resolve(container, path)[1]

    def describe(self) -> dict[str, Any]:
        return {"backend": "local", "location": str(Path(self.root).resolve())}
