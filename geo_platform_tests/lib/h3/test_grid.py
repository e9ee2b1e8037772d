"""H3 grid generation: complete, correctly indexed, valid and antimeridian-safe geometries."""

from __future__ import annotations

import h3
import numpy as np
import pytest
import shapely

from geo_platform.lib.errors import InputError, TooLargeError
from geo_platform.lib.h3 import grid as h3grid
from geo_platform.lib.h3.contrib import SPHERE


def _geoms(column) -> np.ndarray:
    return shapely.from_wkb(column.to_numpy(zero_copy_only=False))


def _polar_cells(res: int) -> set[str]:
    return {h3.latlng_to_cell(90, 0, res), h3.latlng_to_cell(-90, 0, res)}


@pytest.mark.parametrize("res", [0, 1, 2, 3])
def test_global_grid_is_complete_and_indexed_like_h3(res: int) -> None:
    grid = h3grid.build_grid(res)
    t = grid.table
    assert t.num_rows == h3.get_num_cells(res) == grid.num_cells
    assert t.column_names == ["h3", "h3_int", "resolution", "parent", "center", "geom"]
    strings = t.column("h3").to_pylist()
    ints = t.column("h3_int").to_numpy()
    assert len(set(strings)) == t.num_rows
    assert (ints > 0).all()  # uint64 cells fit in a signed bigint
    assert set(strings) == {h3.int_to_str(int(i)) for i in ints.view(np.uint64)}
    assert all(h3.is_valid_cell(s) for s in strings[:500])
    assert set(t.column("resolution").to_pylist()) == {res}
    parents = t.column("parent").to_pylist()
    if res == 0:
        assert parents == [None] * t.num_rows
    else:
        assert all(
            h3.cell_to_parent(s, res - 1) == p for s, p in zip(strings, parents, strict=True)
        )
    centers = _geoms(t.column("center"))
    lat_lng = [h3.cell_to_latlng(s) for s in strings[:200]]
    assert np.allclose(shapely.get_y(centers[:200]), [a for a, _ in lat_lng])
    assert shapely.contains(_geoms(t.column("geom")), centers).all()


@pytest.mark.parametrize("res", [0, 1, 2, 3])
def test_geometries_are_valid_multipolygons_split_at_the_antimeridian(res: int) -> None:
    grid = h3grid.build_grid(res)
    geoms = _geoms(grid.table.column("geom"))
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_type_id(geoms) == 6).all()  # MultiPolygon
    # The cells tile the lon/lat rectangle exactly: no gaps, no overlaps.
    assert shapely.area(geoms).sum() == pytest.approx(360 * 180, rel=1e-9)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    b = shapely.bounds(parts)
    wide = owner[(b[:, 2] - b[:, 0]) > 180]
    strings = np.array(grid.table.column("h3").to_pylist())
    assert set(strings[wide]) == _polar_cells(res)  # only the polar caps span all longitudes
    assert grid.polar_cells == 2 and grid.repaired_cells == 0
    multi = np.bincount(owner, minlength=len(geoms)) > 1
    assert grid.split_cells == multi.sum() > 0
    for g in geoms[multi]:
        xs = shapely.bounds(shapely.get_parts(g))
        assert len(xs) == 2 and xs[:, 0].min() == -180.0 and xs[:, 2].max() == 180.0


def test_naive_polygons_would_fail_the_same_checks() -> None:
    """The checks above can fail: plain cell_to_boundary polygons break them."""
    cells = h3.get_res0_cells()
    naive = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in cells]
    spans = [g.bounds[2] - g.bounds[0] for g in naive]
    assert sum(s > 180 for s in spans) > 2 or not all(g.is_valid for g in naive)


def test_polar_cells_close_at_the_pole() -> None:
    grid = h3grid.build_grid(1)
    strings = grid.table.column("h3").to_pylist()
    geoms = _geoms(grid.table.column("geom"))
    for cell in _polar_cells(1):
        g = geoms[strings.index(cell)]
        x0, y0, x1, y1 = g.bounds
        assert (x0, x1) == (-180.0, 180.0) and (y1 == 90.0 or y0 == -90.0)
        lat, lng = h3.cell_to_latlng(cell)
        assert g.contains(shapely.Point(lng, lat)) and g.is_valid


def test_bbox_grid_covers_the_box() -> None:
    bbox = (14.2, 49.9, 14.7, 50.2)
    grid = h3grid.build_grid(7, bbox)
    geoms = _geoms(grid.table.column("geom"))
    box = shapely.box(*bbox)
    assert grid.num_cells > 100
    assert shapely.intersects(geoms, box).all()
    assert shapely.union_all(geoms).buffer(1e-9).contains(box)
    assert set(grid.table.column("resolution").to_pylist()) == {7}


def test_bbox_grid_across_the_antimeridian() -> None:
    grid = h3grid.build_grid(4, (179.0, -17.5, -179.0, -16.5))
    geoms = _geoms(grid.table.column("geom"))
    assert shapely.is_valid(geoms).all() and grid.split_cells > 0
    centers = shapely.get_x(_geoms(grid.table.column("center")))
    assert (centers > 178).any() and (centers < -178).any()
    parts = shapely.get_parts(geoms)
    b = shapely.bounds(parts)
    assert ((b[:, 2] - b[:, 0]) < 5).all()


def test_limits_and_bad_input_are_refused() -> None:
    with pytest.raises(InputError):
        h3grid.build_grid(5)  # global grids stop at 4
    with pytest.raises(InputError):
        h3grid.build_grid(16, (0, 0, 1, 1))
    with pytest.raises(InputError):
        h3grid.build_grid(5, (0, 10, 1, 5))  # south > north
    with pytest.raises(TooLargeError):
        h3grid.build_grid(12, (-10, -10, 10, 10), max_cells=1000)


def test_vectorized_ids_match_h3_at_every_resolution() -> None:
    rng = np.random.default_rng(7)
    cells = np.array(
        [
            h3.api.basic_int.latlng_to_cell(lat, lng, res)
            for lat, lng, res in zip(
                rng.uniform(-90, 90, 300),
                rng.uniform(-180, 180, 300),
                rng.integers(0, 16, 300),
                strict=True,
            )
        ],
        dtype=np.uint64,
    )
    assert h3grid.cells_to_strings(cells).to_pylist() == [h3.int_to_str(int(c)) for c in cells]
    parents, has = h3grid.cell_parents(cells)
    for c, p, ok in zip(cells.tolist(), parents.tolist(), has, strict=True):
        r = h3.api.basic_int.get_resolution(c)
        assert ok == (r > 0)
        if ok:
            assert p == h3.api.basic_int.cell_to_parent(c, r - 1)


@pytest.mark.parametrize("res", [0, 1])
def test_great_circle_edges_give_h3s_cell_areas(res: int) -> None:
    """With edges densified along their great circles, the lon/lat polygons (polar and split
    cells included) enclose exactly the cell's area on the sphere; straight lon/lat edges do not.
    """
    cells = h3grid.global_cells(res)
    expected = np.array([h3.api.basic_int.cell_area(c, "m^2") for c in cells.tolist()])

    def spherical(geoms: np.ndarray) -> np.ndarray:
        dense = shapely.segmentize(geoms, 0.05)
        return np.array([abs(SPHERE.geometry_area_perimeter(g)[0]) for g in dense])

    exact = h3grid.cell_polygons(cells, max_arc_deg=0.1)
    geoms = exact.geoms()
    assert shapely.is_valid(geoms).all() and exact.polar_cells == 2 and exact.split_cells > 0
    assert shapely.area(geoms).sum() == pytest.approx(360 * 180, rel=1e-9)  # still a tiling
    assert np.abs(spherical(geoms) / expected - 1).max() < 2e-4
    plain = np.abs(spherical(h3grid.cell_polygons(cells).geoms()) / expected - 1)
    assert plain.max() > 0.1  # the polar caps, with straight lon/lat edges
