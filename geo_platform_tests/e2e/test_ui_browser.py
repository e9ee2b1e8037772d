"""The Dagster UI in a real browser: Debian's Chromium, headless, driven by Playwright.

One bronze raster is materialized in process (bronze_raster, raster_cog and its STAC item) on a
PostgreSQL-backed instance; then ``dagster dev`` serves the UI on a free loopback port and the
browser opens the asset graph and the raster_cog partition. The test checks what an operator
sees (the partition's metadata, including the preview image) and saves screenshots to
``test-artifacts/`` (gitignored) for people and CI artifacts.

``dagster dev`` gets an empty blob root of its own, so its sensors find nothing to do while the
browser looks around (the runs the UI shows are the ones made here).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest

from geo_platform.lib import naming
from geo_platform.settings import REPO_ROOT
from geo_platform_tests.e2e.processes import dagster_dev
from geo_platform_tests.e2e.raster_pipeline import publish_raster
from geo_platform_tests.fixtures.helpers import TESTDATA

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def materialized(
    pg_instance: dg.DagsterInstance, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One bronze raster through the raster pipeline, in process, on the test instance."""
    from geo_platform.definitions import defs

    assets = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert "raster_cog" in assets, f"the Definitions lost the raster_cog asset: {sorted(assets)}"
    blob = f"ui{uuid.uuid4().hex[:6]}/imagery/rgb.tif"
    key = publish_raster(
        pg_instance,
        tmp_path_factory.mktemp("ui_blobs"),
        blob,
        TESTDATA / "rasters/rgb_uint8/RGB.byte.tif",
    )
    try:
        yield {"partition": key, "blob": blob}
    finally:
        with psycopg.connect(pg_dsn) as conn:
            conn.execute("SELECT pgstac.delete_collection(%s)", (naming.collection_id(blob),))
            conn.commit()


@pytest.fixture(scope="module")
def dagster_ui(
    materialized: dict[str, Any],
    pg_instance_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """``dagster dev -w workspace.yaml`` on a free loopback port; the process group is ended."""
    tmp = tmp_path_factory.mktemp("dagster_dev")
    env = {**os.environ, **pg_instance_env, "GEO_PLATFORM_BLOB_ROOT": str(tmp / "empty_blobs")}
    with dagster_dev(env, tmp / "dagster_dev.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(dagster_ui: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A page of a headless Chromium with a fresh profile (no playwright-downloaded browser)."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (scripts/install.sh installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium_profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1600, "height": 1000},
        )
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def _shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_asset_graph_shows_groups_and_assets(browser_page: Any, dagster_ui: str) -> None:
    from playwright.sync_api import expect

    page = browser_page
    page.goto(f"{dagster_ui}/asset-groups")
    graph = page.locator("#root")
    for group in ("bronze", "silver", "catalog"):
        expect(graph.get_by_text(group, exact=True).first).to_be_visible()
    # The global lineage starts with groups collapsed: expand them from the graph's settings.
    page.locator("button:has([aria-label=settings])").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    for asset in ("bronze_raster", "raster_cog", "raster_stac_item"):
        expect(page.get_by_text(asset, exact=True).first).to_be_visible()
    page.wait_for_timeout(1000)  # let the graph finish its layout animation for the screenshot
    _shot(page, "asset_graph")


def test_raster_cog_partition_shows_metadata_and_preview(
    browser_page: Any, dagster_ui: str, materialized: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    page = browser_page
    key, blob = materialized["partition"], materialized["blob"]
    page.goto(
        f"{dagster_ui}/assets/raster_cog?view=partitions"
        f"&partition={urllib.parse.quote(key, safe='')}"
    )
    expect(page.get_by_text(key, exact=True).first).to_be_visible()
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible()
    table = page.locator("table").filter(has_text="preview")
    for label, value in {
        "crs": "EPSG:32618",
        "width": "791",
        "height": "718",
        "bands": "3",
        "stac_item": f"{naming.collection_id(blob)}/{naming.item_id(blob)}",
    }.items():
        row = table.locator("tr").filter(has=page.get_by_text(label, exact=True))
        expect(row.first).to_contain_text(value)
    _shot(page, "raster_cog_partition")

    # The preview is markdown with an embedded PNG: the UI opens it in a dialog.
    page.get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog")
    image = dialog.locator("img[src^='data:image/png;base64,']")
    expect(image).to_be_visible()
    width, height = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert width >= 64 and height >= 64, (width, height)  # decoded, not a broken image
    _shot(page, "raster_cog_preview")
    dialog.get_by_role("button", name="Close").click()
