"""Spherical helpers for H3 geometry: unit vectors, great-circle densification, equal-area maps.

All on H3's sphere (authalic radius 6,371,007.18 m). Everything works on flat coordinate arrays
(vectorized with numpy), with rings given as a vertex count per ring, the way ``grid`` keeps
cell boundaries.
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_007.180918475  # H3's authalic radius


def unit_vectors(lng: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """(n, 3) unit vectors of lon/lat degrees."""
    lo, la = np.radians(lng), np.radians(lat)
    cos_la = np.cos(la)
    return np.column_stack([cos_la * np.cos(lo), cos_la * np.sin(lo), np.sin(la)])


def to_lnglat(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lng, lat) degrees of (n, 3) vectors (normalized here)."""
    p = p / np.linalg.norm(p, axis=1)[:, None]
    lat = np.degrees(np.arcsin(np.clip(p[:, 2], -1.0, 1.0)))
    lng = np.degrees(np.arctan2(p[:, 1], p[:, 0]))
    return lng, lat


def ring_starts(counts: np.ndarray) -> np.ndarray:
    """Index of each ring's first vertex in the flat arrays."""
    starts = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return starts


def densify_rings(
    lat: np.ndarray, lng: np.ndarray, counts: np.ndarray, max_arc_deg: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rings with points inserted along each edge's great circle, no piece above ``max_arc_deg``.

    Input and output are flat (lat, lng) arrays with a vertex count per ring (rings implicitly
    closed). Each edge keeps its first vertex and gains evenly spaced points (slerp); an edge
    shared by two rings, traversed in opposite directions, gets the same points in both.
    """
    n = len(lat)
    if n == 0:
        return lat, lng, counts
    starts = ring_starts(counts)
    nxt = np.arange(1, n + 1)
    nxt[starts + counts - 1] = starts
    p = unit_vectors(lng, lat)
    a, b = p, p[nxt]
    omega = np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), np.einsum("ij,ij->i", a, b))
    pieces = np.maximum(1, np.ceil(np.degrees(omega) / max_arc_deg)).astype(np.int64)
    edge = np.repeat(np.arange(n), pieces)
    k = np.arange(len(edge)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    t = k / pieces[edge]
    om = omega[edge]
    sin_om = np.sin(om)
    tiny = sin_om < 1e-12
    safe = np.where(tiny, 1.0, sin_om)
    wa = np.where(tiny, 1.0 - t, np.sin((1.0 - t) * om) / safe)
    wb = np.where(tiny, t, np.sin(t * om) / safe)
    q = wa[:, None] * a[edge] + wb[:, None] * b[edge]
    out_lng, out_lat = to_lnglat(q)
    first = k == 0  # the original vertices keep their exact coordinates
    out_lng[first], out_lat[first] = lng, lat
    ring = np.repeat(np.arange(len(counts)), counts)
    new_counts = np.bincount(ring, weights=pieces, minlength=len(counts)).astype(np.int64)
    return out_lat, out_lng, new_counts


def laea(
    lng: np.ndarray, lat: np.ndarray, center_lng: np.ndarray, center_lat: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lambert azimuthal equal-area (metres) of each point about its own center point.

    Areas measured in the plane equal areas on the sphere; each point may have its own center
    (the arrays broadcast), so many local projections run in one call.
    """
    lo = np.radians(lng - center_lng)
    la, la0 = np.radians(lat), np.radians(center_lat)
    cos_la, sin_la = np.cos(la), np.sin(la)
    cos_la0, sin_la0 = np.cos(la0), np.sin(la0)
    cos_lo = np.cos(lo)
    z = sin_la0 * sin_la + cos_la0 * cos_la * cos_lo  # cosine of the distance to the center
    k = EARTH_RADIUS_M * np.sqrt(2.0 / np.maximum(1.0 + z, 1e-300))
    x = k * cos_la * np.sin(lo)
    y = k * (cos_la0 * sin_la - sin_la0 * cos_la * cos_lo)
    return x, y
