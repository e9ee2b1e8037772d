"""A raster whose bands have different nodata values publishes with one, every band's valid
pixels and validity kept (GDAL's COG driver wrote band 1's value for all bands: band 2's
nodata became data and its -1 pixels nodata), on the local store and on Azurite."""

from __future__ import annotations

from pathlib import Path

import rasterio
from rio_cogeo.cogeo import cog_validate

from geo_platform.lib import naming
from geo_platform_tests.fixtures.helpers import published_raster
from geo_platform_tests.lib.raster.test_band_nodata import OWN, sample, write_bands
from geo_platform_tests.workflows.test_publish_gcps import store  # noqa: F401  (fixture)


def test_bands_with_their_own_nodata_keep_their_validity(
    store,  # noqa: F811
    pgstac_lookups,
    bronze_folder,
    tmp_path: Path,
) -> None:
    data = sample()
    src = write_bands(tmp_path / "bands.img", data, OWN)
    blob, out = published_raster(store, pgstac_lookups, bronze_folder, src)
    assert "one nodata value (-2) for every band" in out.item["properties"]["processing:lineage"]
    bands = out.item["assets"]["analysis"]["bands"]
    assert [b["nodata"] for b in bands] == [-2, -2, -2]  # as the COG says
    blobs, _, silver = store
    for tier in ("analysis", "archive"):
        with blobs.local_copy(silver, f"{naming.silver_prefix(blob)}/{tier}.tif") as local:
            assert cog_validate(str(local))[0]
            with rasterio.open(local) as cog:
                assert cog.nodatavals == (-2.0, -2.0, -2.0)
                for b, own in enumerate(OWN):
                    valid = data[b] != own
                    assert ((cog.read_masks(b + 1) > 0) == valid).all(), (tier, b)
                    assert (cog.read(b + 1)[valid] == data[b][valid]).all()
