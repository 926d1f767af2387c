"""Tests of deepaw_nb.viz on synthetic densities (Gaussians) in real and skewed cells."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import plotly.graph_objects as go
import pytest
from ase import Atoms
from ase.units import Bohr
from scipy.ndimage import map_coordinates

from deepaw_nb.errors import DeepawError, GridError, OutputError
from deepaw_nb.viz import (
    atoms_near_plane,
    axis_plane,
    choose_stride,
    convert_density_units,
    default_isovalue,
    export_figure,
    hkl_plane,
    isosurface_figure,
    isosurface_mesh,
    mesh_trace_data,
    precision_comparison_figure,
    sample_plane,
    slice_figure,
    static_export_available,
    timing_figure,
)
from deepaw_nb.viz import export as export_module

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference" / "hfo2_full.json"

CUBIC = np.diag([6.0, 6.0, 6.0])
# Strongly skewed triclinic cell (angles far from 90°), rows = a, b, c in Å.
TRICLINIC = np.array([[5.0, 0.0, 0.0], [3.2, 4.2, 0.0], [2.1, 1.4, 4.6]])


def frac_grid(shape):
    return np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), axis=-1)


def gaussian(cell, shape, centre_frac, sigma, amp=1.0):
    """Periodic Gaussian: exp(-r²/2σ²) with r the minimum-image distance (Å) to the centre."""
    d = frac_grid(shape) - np.asarray(centre_frac, float)
    d -= np.round(d)
    r2 = None
    for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T:
        cand = (((d + shift) @ cell) ** 2).sum(-1)
        r2 = cand if r2 is None else np.minimum(r2, cand)
    return amp * np.exp(-r2 / (2 * sigma**2))


def min_image_distance(points, centre, cell):
    frac = np.linalg.solve(cell.T, (points - centre).T).T
    frac -= np.round(frac)
    best = None
    for shift in np.array(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1])).reshape(3, -1).T:
        dist = np.linalg.norm((frac + shift) @ cell, axis=1)
        best = dist if best is None else np.minimum(best, dist)
    return best


def iso_radius(sigma, iso, amp=1.0):
    return sigma * np.sqrt(2 * np.log(amp / iso))


def atoms_in(cell, symbols="Si", frac=((0.5, 0.5, 0.5),)):
    return Atoms(symbols, scaled_positions=list(frac), cell=cell, pbc=True)


# ---------------------------------------------------------------- isosurfaces


@pytest.mark.parametrize("cell,shape", [(CUBIC, (40, 40, 40)), (TRICLINIC, (40, 44, 48))])
def test_blob_vertices_at_expected_radius(cell, shape):
    rho = gaussian(cell, shape, [0.5, 0.5, 0.5], 0.8)
    verts, faces = isosurface_mesh(rho, cell, 0.5)
    assert len(faces) > 100
    r = np.linalg.norm(verts - np.array([0.5, 0.5, 0.5]) @ cell, axis=1)
    assert np.allclose(r, iso_radius(0.8, 0.5), rtol=0.01)


def test_blob_on_cell_corner_gives_closed_surface():
    shape = (40, 44, 48)
    rho = gaussian(TRICLINIC, shape, [0.0, 0.0, 0.0], 0.8)
    verts, faces = isosurface_mesh(rho, TRICLINIC, 0.5)
    r_exp = iso_radius(0.8, 0.5)
    assert np.allclose(min_image_distance(verts, np.zeros(3), TRICLINIC), r_exp, rtol=0.01)
    # Move the 8 pieces next to the corner at the origin, merge the shared boundary
    # vertices: every edge must then belong to exactly two triangles (watertight).
    frac = np.linalg.solve(TRICLINIC.T, verts.T).T
    frac -= np.round(frac)
    moved = frac @ TRICLINIC
    _, merged = np.unique(np.round(moved, 6), axis=0, return_inverse=True)
    tri = merged.ravel()[faces]
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert set(counts.tolist()) == {2}
    area = 0.5 * np.linalg.norm(
        np.cross(moved[faces[:, 1]] - moved[faces[:, 0]], moved[faces[:, 2]] - moved[faces[:, 0]]), axis=1
    ).sum()
    assert area == pytest.approx(4 * np.pi * r_exp**2, rel=0.02)


def test_signed_field_draws_one_trace_per_sign():
    shape = (36, 36, 36)
    rho = gaussian(TRICLINIC, shape, [0.25, 0.25, 0.25], 0.7) - gaussian(TRICLINIC, shape, [0.7, 0.6, 0.7], 0.7)
    atoms = atoms_in(TRICLINIC, "SiO", [(0.25, 0.25, 0.25), (0.7, 0.6, 0.7)])
    fig = isosurface_figure(density=rho, atoms=atoms, isovalue=0.4, opacity=0.5)
    meshes = [t for t in fig.data if t.type == "mesh3d"]
    assert len(meshes) == 2
    assert meshes[0].color != meshes[1].color
    assert all(m.opacity == 0.5 and m.flatshading is False for m in meshes)
    assert not any(t.type == "isosurface" for t in fig.data)
    neg = fig.data[fig.layout.meta["negative_trace"]]
    pts = np.column_stack([neg.x, neg.y, neg.z])
    r = min_image_distance(pts, np.array([0.7, 0.6, 0.7]) @ TRICLINIC, TRICLINIC)
    assert np.allclose(r, iso_radius(0.7, 0.4), rtol=0.02)
    assert fig.layout.title.text.startswith("Isosurface ±0.4")
    # atoms: one marker trace per element with index in the hover text; cell: 12 segments
    markers = [t for t in fig.data if t.type == "scatter3d" and t.mode == "markers"]
    assert [t.name for t in markers] == ["Si", "O"]
    assert "O 1" in markers[1].text[0]
    cell_trace = [t for t in fig.data if t.type == "scatter3d" and t.mode == "lines"][0]
    assert sum(v is None for v in cell_trace.x) == 12
    assert fig.layout.scene.aspectmode == "data"
    assert "Å" in fig.layout.scene.xaxis.title.text
    no_neg = isosurface_figure(density=rho, atoms=atoms, isovalue=0.4, show_negative=False,
                               show_atoms=False, show_cell=False)
    assert [t.type for t in no_neg.data] == ["mesh3d"]


def test_downsampling_above_max_points():
    shape = (45, 45, 45)  # not divisible by the stride: exercises the short last interval
    rho = gaussian(CUBIC, shape, [0.5, 0.5, 0.5], 0.9)
    atoms = atoms_in(CUBIC)
    fig = isosurface_figure(density=rho, atoms=atoms, isovalue=0.5, max_points=20_000)
    meta = fig.layout.meta
    assert meta["stride"] == choose_stride(shape, 20_000) == 2
    assert meta["sampled_shape"] == [23, 23, 23]
    assert "every 2nd grid point" in fig.layout.title.text
    mesh = fig.data[meta["positive_trace"]]
    pts = np.column_stack([mesh.x, mesh.y, mesh.z])
    assert np.allclose(np.linalg.norm(pts - 3.0, axis=1), iso_radius(0.9, 0.5), rtol=0.03)
    assert isosurface_figure(density=rho, atoms=atoms, isovalue=0.5).layout.meta["stride"] == 1


def test_unit_conversion_round_trip_and_bohr_isovalue():
    vals = np.array([0.0, 0.05, 1.3, -0.2])
    back = convert_density_units(convert_density_units(vals, "e/A3", "e/bohr3"), "e/bohr3", "e/A3")
    assert np.allclose(back, vals)
    assert convert_density_units(1.0, "e/bohr3", "e/Å³") == pytest.approx(1 / Bohr**3)
    rho = gaussian(TRICLINIC, (32, 32, 32), [0.5, 0.5, 0.5], 0.8)
    atoms = atoms_in(TRICLINIC)
    fig_a = isosurface_figure(density=rho, atoms=atoms, isovalue=0.5)
    fig_b = isosurface_figure(density=rho, atoms=atoms, isovalue=0.5 * Bohr**3, unit="e/bohr3")
    assert np.allclose(fig_a.data[0].x, fig_b.data[0].x) and np.array_equal(fig_a.data[0].i, fig_b.data[0].i)
    assert "bohr³" in fig_b.layout.title.text
    with pytest.raises(DeepawError, match="e/bohr3"):
        convert_density_units(1.0, "e/nm3", "e/A3")


def test_default_isovalue_rule_and_mesh_updates_existing_trace():
    rho = gaussian(CUBIC, (24, 24, 24), [0.5, 0.5, 0.5], 0.8)
    assert default_isovalue(rho) == pytest.approx(np.quantile(rho, 0.9))
    signed = rho - gaussian(CUBIC, (24, 24, 24), [0.1, 0.1, 0.1], 0.8)
    assert default_isovalue(signed) == pytest.approx(np.quantile(np.abs(signed), 0.99))
    fig = isosurface_figure(density=rho, atoms=atoms_in(CUBIC))
    assert fig.layout.meta["isovalue"] == pytest.approx(np.quantile(rho, 0.9))
    # A widget swaps the mesh in place, without rebuilding the figure.
    verts, faces = isosurface_mesh(rho, CUBIC, 0.2)
    fig.data[0].update(**mesh_trace_data(verts, faces))
    assert len(fig.data[0].x) == len(verts) and len(fig.data[0].i) == len(faces)
    empty_v, empty_f = isosurface_mesh(rho, CUBIC, 5.0)  # past the maximum: nothing to draw
    assert empty_v.shape == (0, 3) and empty_f.shape == (0, 3)


def test_result_object_is_accepted():
    rho = gaussian(CUBIC, (20, 20, 20), [0.5, 0.5, 0.5], 0.8)
    result = SimpleNamespace(density=rho, atoms=atoms_in(CUBIC))
    fig = isosurface_figure(result, isovalue=0.5)
    assert isinstance(fig, go.Figure) and fig.data[0].type == "mesh3d"
    assert slice_figure(result).data[0].type == "heatmap"


@pytest.mark.parametrize(
    "density,kwargs,error,match",
    [
        (np.linspace(0, 1, 10), {}, GridError, "3-D"),
        ("nan", {}, GridError, "NaN"),
        ("blob", {"isovalue": 3.0}, DeepawError, "outside the data range"),
        ("blob", {"isovalue": -0.1}, DeepawError, "positive"),
        ("blob", {"unit": "e/nm3"}, DeepawError, "unknown density unit"),
        ("flat", {}, DeepawError, "constant"),
    ],
)
def test_bad_isosurface_inputs(density, kwargs, error, match):
    blob = gaussian(CUBIC, (16, 16, 16), [0.5, 0.5, 0.5], 0.8)
    if isinstance(density, str):
        density = {"nan": np.where(blob > 0.9, np.nan, blob), "blob": blob, "flat": np.ones((8, 8, 8))}[density]
    with pytest.raises(error, match=match) as info:
        isosurface_figure(density=density, atoms=atoms_in(CUBIC), **kwargs)
    assert "\n" not in str(info.value)


def test_missing_structure_is_a_clear_error():
    with pytest.raises(DeepawError, match="atoms="):
        isosurface_figure(density=np.ones((4, 4, 4)))
    with pytest.raises(DeepawError, match="density="):
        slice_figure(atoms=atoms_in(CUBIC))


# ---------------------------------------------------------------- slices


def smooth_field(cell_shape):
    f = frac_grid(cell_shape)
    x, y, z = f[..., 0], f[..., 1], f[..., 2]
    return np.cos(2 * np.pi * x) + 0.5 * np.sin(2 * np.pi * (y + z)) + 0.3 * np.cos(4 * np.pi * z)


def smooth_value(frac):
    x, y, z = frac
    return np.cos(2 * np.pi * x) + 0.5 * np.sin(2 * np.pi * (y + z)) + 0.3 * np.cos(4 * np.pi * z)


def test_slice_along_c_in_skewed_cell_is_a_parallelogram_with_correct_values():
    rho = smooth_field((48, 48, 60))
    atoms = atoms_in(TRICLINIC)
    position = 0.3 + 0.5 / 60  # half-way between two grid planes: interpolated
    fig = slice_figure(density=rho, atoms=atoms, axis="c", position=position, resolution=0.05)
    heat = fig.data[0]
    s, t, z = np.asarray(heat.x), np.asarray(heat.y), np.asarray(heat.z)
    plane = axis_plane(TRICLINIC, "c", position)
    for fa, fb in [(0.25, 0.6), (0.8, 0.15), (0.5, 0.5)]:
        cart = np.array([fa, fb, position]) @ TRICLINIC
        ps, pt = plane.to_2d(cart)[0]
        i, j = np.argmin(abs(t - pt)), np.argmin(abs(s - ps))
        exact_cart = plane.origin + s[j] * plane.e1 + t[i] * plane.e2
        exact = smooth_value(np.linalg.solve(TRICLINIC.T, exact_cart))
        assert z[i, j] == pytest.approx(exact, abs=0.02)
    # The cell is drawn as a parallelogram with edges a and b in true Cartesian lengths.
    outline = fig.data[2]
    corners = np.column_stack([outline.x, outline.y])[:4]
    assert np.allclose(corners[1], [5.0, 0.0])
    assert np.allclose(corners[3], [TRICLINIC[1] @ plane.e1, TRICLINIC[1] @ plane.e2])
    assert fig.layout.yaxis.scaleanchor == "x"
    _, _, values, inside = sample_plane(rho, TRICLINIC, plane, 0.1)
    assert 0.3 < inside.mean() < 0.8  # a skewed cell does not fill its bounding box
    assert np.all(np.isfinite(values))


def test_hkl_slice_through_atom_passes_gaussian_maximum():
    shape = (40, 44, 48)
    atoms = atoms_in(TRICLINIC, "HfO2", [(0.31, 0.27, 0.62), (0.7, 0.1, 0.2), (0.1, 0.8, 0.4)])
    rho = gaussian(TRICLINIC, shape, atoms.get_scaled_positions()[0], 0.6, amp=2.0)
    fig = slice_figure(density=rho, atoms=atoms, hkl=(1, 1, 1), point=0, resolution=0.04)
    z = np.asarray(fig.data[0].z)
    i, j = np.unravel_index(np.argmax(z), z.shape)
    meta = fig.layout.meta
    origin, e1, e2 = (np.array(meta[k]) for k in ("origin", "e1", "e2"))
    peak = origin + fig.data[0].x[j] * e1 + fig.data[0].y[i] * e2
    assert np.linalg.norm(peak - atoms.positions[0]) < 0.1
    at_atom = map_coordinates(rho, (atoms.get_scaled_positions()[0] * shape)[:, None], order=1, mode="grid-wrap")[0]
    assert z.max() == pytest.approx(at_atom, rel=0.02)
    assert 0 in meta["atoms"]
    assert np.allclose(np.array(meta["e1"]) @ np.linalg.inv(TRICLINIC) @ [1, 1, 1], 0, atol=1e-12)
    # The same plane through the atom's fractional coordinates, and through its Cartesian ones.
    frac_pt = atoms.get_scaled_positions()[0]
    f2 = slice_figure(density=rho, atoms=atoms, hkl=(1, 1, 1), point=frac_pt, resolution=0.04)
    f3 = slice_figure(density=rho, atoms=atoms, hkl=(1, 1, 1), point=atoms.positions[0],
                      point_frame="cartesian", resolution=0.04)
    assert np.allclose(f2.data[0].z, z) and np.allclose(f3.data[0].z, z)


def test_hkl_plane_is_one_repeat_unit():
    plane = hkl_plane(TRICLINIC, (2, 1, 0), np.zeros(3))
    area = np.linalg.norm(np.cross(plane.edge1, plane.edge2))
    g = np.linalg.inv(TRICLINIC) @ [2, 1, 0]
    assert area == pytest.approx(abs(np.linalg.det(TRICLINIC)) * np.linalg.norm(g))
    for u in plane.edge_indices:
        assert np.dot(u, [2, 1, 0]) == 0
    with pytest.raises(DeepawError, match="three integers"):
        hkl_plane(TRICLINIC, (0, 0, 0), np.zeros(3))


def test_atoms_near_plane_selects_periodic_images():
    cell = np.diag([4.0, 5.0, 10.0])
    atoms = atoms_in(cell, "HfOOO", [(0.2, 0.3, 0.5), (0.6, 0.6, 0.51), (0.5, 0.5, 0.8), (0.0, 0.5, 0.0)])
    plane = axis_plane(cell, "c", 0.5)
    found = atoms_near_plane(atoms, plane, 0.5)
    assert sorted({f["index"] for f in found}) == [0, 1]
    assert {f["index"]: f["distance"] for f in found}[1] == pytest.approx(0.1)
    # An atom at z = 0 lies 0.2 Å from the plane at z_frac = 0.98 through its periodic image.
    near_top = atoms_near_plane(atoms, axis_plane(cell, "c", 0.98), 0.5)
    assert [f["index"] for f in near_top] == [3, 3]  # on the a-edge: both ends of the cell
    assert abs(near_top[0]["distance"]) == pytest.approx(0.2)
    fig = slice_figure(density=np.ones((8, 8, 8)) * 0.1, atoms=atoms, axis="c", position=0.5, atom_distance=0.5)
    labels = [t for t in fig.data if t.name == "atoms"][0]
    assert sorted(labels.text) == ["Hf", "O"]


def test_slice_colour_scale_and_units():
    rho = gaussian(CUBIC, (20, 20, 20), [0.5, 0.5, 0.5], 0.8)
    atoms = atoms_in(CUBIC)
    positive = slice_figure(density=rho, atoms=atoms, unit="e/bohr3")
    assert positive.data[0].zmid is None
    assert positive.data[0].colorbar.title.text == "ρ (e/bohr³)"
    assert np.nanmax(positive.data[0].z) == pytest.approx(rho.max() * Bohr**3, rel=1e-6)
    diff = slice_figure(density=rho - 0.3, atoms=atoms)
    assert diff.data[0].zmid == 0 and diff.data[0].colorbar.title.text == "ρ (e/Å³)"
    with pytest.raises(DeepawError, match="'a', 'b' or 'c'"):
        slice_figure(density=rho, atoms=atoms, axis="d")


# ---------------------------------------------------------------- timing figures

STAGES = {
    "structure preparation": 0.01, "model load": 0.3, "atom graph": 0.05, "atom model": 1.2,
    "probe graph": 2.0, "host→device": 0.0, "probe model": 6.0, "F_local": 0.4,
    "device→host": 0.02, "assembly": 0.02, "writing": 0.0,
}


def test_timing_figure_order_percentages_total():
    fig = timing_figure(STAGES)
    bar = fig.data[0]
    assert list(bar.y) == list(STAGES)  # pipeline order, zero-time stages kept
    assert fig.layout.yaxis.autorange == "reversed"  # first stage on top
    total = sum(STAGES.values())
    assert np.allclose(fig.layout.meta["percent"], [100 * v / total for v in STAGES.values()])
    assert "(60.0 %)" in bar.text[list(STAGES).index("probe model")]
    assert "total 10 s" in fig.layout.title.text
    assert timing_figure({"a": 0.0}).layout.meta["percent"] == [0.0]
    with pytest.raises(DeepawError, match="≥ 0"):
        timing_figure({"a": -1.0})
    with pytest.raises(DeepawError, match="non-empty"):
        timing_figure({})


def test_precision_comparison_figure():
    rows = [
        {"precision": "fp64", "seconds": 40.0, "probes_per_s": 2.5e4, "nmae": 0.0, "mae": 0.0,
         "max_error": 0.0, "electron_count_diff": 0.0},
        {"precision": "fp32", "seconds": 12.3, "probes_per_s": 8e4, "nmae": 2e-7},
        {"precision": "bf16", "seconds": 4.2, "probes_per_s": 2.4e5, "nmae": 1e-3, "mae": 2e-4,
         "max_error": 0.05, "electron_count_diff": -0.02},
    ]
    fig = precision_comparison_figure(rows)
    table = fig.data[0]
    assert table.type == "table"
    assert list(table.cells.values[0]) == ["fp64", "fp32", "bf16"]
    assert table.cells.values[4][1] == "—"  # missing MAE
    assert [t.type for t in fig.data[1:]] == ["bar", "bar"]
    assert list(fig.data[1].y) == [2.5e4, 8e4, 2.4e5]
    assert fig.layout.yaxis2.type == "log"
    with pytest.raises(DeepawError, match="precision"):
        precision_comparison_figure([{"seconds": 1.0}])


# ---------------------------------------------------------------- export


def small_figure():
    return timing_figure({"model": 1.0, "writing": 0.5})


def test_html_export_is_atomic_self_contained_and_refuses_overwrite(tmp_path):
    path = tmp_path / "fig.html"
    assert export_figure(small_figure(), path) == path
    text = path.read_text(encoding="utf-8")
    assert "<html>" in text and len(text) > 1_000_000  # plotly.js embedded: works offline
    assert 'src="https://cdn.plot.ly' not in text
    with pytest.raises(OutputError, match="overwrite=True"):
        export_figure(small_figure(), path)
    assert path.read_text(encoding="utf-8") == text  # untouched
    export_figure(timing_figure({"other": 2.0}), path, overwrite=True)
    assert "other" in path.read_text(encoding="utf-8")
    assert sorted(os.listdir(tmp_path)) == ["fig.html"]  # no temporary files left behind
    with pytest.raises(OutputError, match="does not exist"):
        export_figure(small_figure(), tmp_path / "missing" / "fig.html")
    with pytest.raises(OutputError, match="suffix"):
        export_figure(small_figure(), tmp_path / "fig")
    with pytest.raises(OutputError, match="format"):
        export_figure(small_figure(), tmp_path / "fig.bmp")


def test_static_export_without_browser_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(export_module, "find_browser", lambda: None)
    with pytest.raises(OutputError, match=r"apt-get install chromium.*\.html") as info:
        export_figure(small_figure(), tmp_path / "fig.png")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_png_export_works_or_raises_the_clear_error(tmp_path):
    """PNG needs Chromium: with it (CI installs it) this renders; without, it must say so."""
    path = tmp_path / "iso.png"
    rho = gaussian(TRICLINIC, (20, 20, 20), [0.5, 0.5, 0.5], 0.8)
    fig = isosurface_figure(density=rho, atoms=atoms_in(TRICLINIC), isovalue=0.5)
    available, _ = static_export_available()
    if available:
        export_figure(fig, path, width=400, height=300)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        with pytest.raises(OutputError, match="apt-get install chromium"):
            export_figure(fig, path)
        assert not path.exists()


# ---------------------------------------------------------------- realistic cell


def test_monoclinic_hfo2_cell():
    if not REFERENCE.exists():
        pytest.skip("shared reference structure not available")
    from ase.io import read

    atoms = read(REFERENCE)
    shape = (30, 30, 30)
    rho = sum(
        gaussian(atoms.cell.array, shape, f, 0.5, amp=z / 8)
        for f, z in zip(atoms.get_scaled_positions(), atoms.numbers)
    )
    fig = isosurface_figure(density=rho, atoms=atoms)
    assert fig.layout.meta["positive_trace"] == 0
    hf_b = atoms.get_scaled_positions()[0][1]
    sl = slice_figure(density=rho, atoms=atoms, axis="b", position=hf_b, atom_distance=0.05)
    marked = [atoms[i].symbol for i in sl.layout.meta["atoms"]]
    assert "Hf" in marked
