"""The silver containers of the local blob backend over HTTP, read-only, with Range requests.

``uvicorn geo_platform.app.files_server:create_app --factory`` (what ``geo-platform serve`` runs
for the local backend). Asset hrefs are ``<public base>/<container>/<path>``; this server answers
them, so GDAL's ``/vsicurl/`` (rasterio, titiler), pyarrow/fsspec and browsers read COGs,
GeoParquet and thumbnails by URL exactly as they read Azure blob URLs.

Starlette's ``StaticFiles`` does the serving: GET and HEAD, ``Range``/``If-Range`` (206),
ETag and Last-Modified, no directory listings, no symlinks leading out of a container. Uploads in
progress (``.geo-platform-tmp``) are never served. CORS is open (GET/HEAD, Range exposed) so a
browser STAC client can read the files too.

Configuration: ``GEO_PLATFORM_FILES_DIRS``, a JSON object ``{container: folder}`` that
``geo_platform.app.serve`` sets (only the containers of the served target).
"""

from __future__ import annotations

import json
import os
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from geo_platform.store.blobs.local import TMP_DIR

DIRS_VARIABLE = "GEO_PLATFORM_FILES_DIRS"


class ContainerFiles(StaticFiles):
    """One container folder; the temporary upload folder is not part of it."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        first = path.replace("\\", "/").lstrip("/").split("/", 1)[0]
        if first == TMP_DIR:
            return PlainTextResponse("Not Found", status_code=404)
        return await super().get_response(path, scope)


async def _health(_request: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(dirs: dict[str, str]) -> Starlette:
    """The app serving ``dirs`` ({container: folder}) under ``/<container>/``."""
    routes: list[Any] = [Route("/healthz", _health)]
    routes += [
        Mount(f"/{container}", app=ContainerFiles(directory=folder, check_dir=False))
        for container, folder in dirs.items()
    ]
    cors = Middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "HEAD"],
        allow_headers=["Range", "If-Range"],
        expose_headers=["Content-Range", "Content-Length", "ETag", "Accept-Ranges"],
    )
    return Starlette(routes=routes, middleware=[cors])


def create_app() -> Starlette:
    """The app for the folders in ``GEO_PLATFORM_FILES_DIRS`` (set by ``geo-platform serve``)."""
    return build_app(json.loads(os.environ.get(DIRS_VARIABLE, "{}")))
