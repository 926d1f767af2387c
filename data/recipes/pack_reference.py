"""Pack the raw GPAW densities into the small committed reference data set.

What it does
    Reads ``data/cache/gpaw/<id>.npz`` (written by ``gpaw_densities.py``) for
    every structure of ``data/reference/structures.json`` that is finished and
    writes, under ``data/reference/``:

    * ``grids/<id>.npz``   full fine-grid densities for the held-out pristine
      structures (one per held-out prototype, incl. the monoclinic HfO2
      benchmark), the validation compositions and the bundled examples;
    * ``probes/<id>.npz``  seeded probe sets for every other structure
      (training: ``--n-train`` points; held-out variants: ``--n-test`` points);
      half drawn uniformly over the grid points, half with probability
      proportional to the density (without replacement, no duplicates);
    * ``index.json``       one entry per packed structure (id, formula, split,
      grid shape, electron counts, file, sha256, size) + global metadata.

    Units: ``density``/``density_atoms`` in electrons/Angstrom^3, ``positions``
    and ``cell`` in Angstrom, ``frac_coords`` fractional (float32), energies and
    Fermi level in eV.  Grid point (i,j,k) of a grid of shape (nx,ny,nz) is at
    fractional (i/nx, j/ny, k/nz); probe ``frac_coords`` are exactly such points.

How to run (project python, from the repository root; ~1 s per 10 structures)
    python data/recipes/pack_reference.py            # pack what is finished
    python data/recipes/pack_reference.py --dry-run  # only report sizes

Resuming: simply run it again after more GPAW results arrive; the output is
deterministic (fixed seeds, fixed zip timestamps), so unchanged structures give
byte-identical files and the same sha256.  The raw cache is git-ignored, so a
checkout usually holds only the raw files of newly computed structures: a packed
entry whose raw file is missing is kept as it is, if its file is intact (sha256) and
was made for the same structure (hash) and split; otherwise it is dropped with a
message.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import zipfile

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REF = os.path.join(ROOT, "data", "reference")
CACHE = os.path.join(ROOT, "data", "cache", "gpaw")
SEED = 7321
N_TRAIN = 4000
N_TEST = 8000
# Held-out test structures that get a full grid (all other test ones get probes).
FULL_GRID_VARIANTS = ("pristine",)


def save_npz(path: str, arrays: dict) -> None:
    """Deterministic compressed ``.npz`` (fixed zip timestamps), written atomically."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue(), compresslevel=9)
    os.replace(tmp, path)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rng_for(sid: str) -> np.random.Generator:
    k = int(hashlib.sha256(sid.encode()).hexdigest()[:8], 16)
    return np.random.default_rng([SEED, k])


def sample_points(density: np.ndarray, n: int, rng: np.random.Generator):
    """Grid indices (P,3) and kind flags (0 uniform, 1 density-weighted).

    ``n // 2`` points uniformly without replacement, the rest drawn without
    replacement from the remaining points with probability proportional to
    max(density, 0).  All points are returned if the grid has <= n points.
    """
    flat = density.reshape(-1).astype(np.float64)
    m = flat.size
    if m <= n:
        idx = np.arange(m)
        kind = np.zeros(m, np.uint8)
    else:
        n_uni = n // 2
        uni = rng.choice(m, size=n_uni, replace=False)
        mask = np.ones(m, bool)
        mask[uni] = False
        rest = np.flatnonzero(mask)
        w = np.clip(flat[rest], 0.0, None) + 1e-12
        dw = rng.choice(rest, size=n - n_uni, replace=False, p=w / w.sum())
        idx = np.concatenate([uni, dw])
        kind = np.concatenate([np.zeros(n_uni, np.uint8), np.ones(n - n_uni, np.uint8)])
    ijk = np.stack(np.unravel_index(idx, density.shape), axis=1)
    return ijk, kind


def common_fields(raw) -> dict:
    """Structure and scalar fields copied from the raw GPAW file."""
    keys = ["numbers", "positions", "cell", "energy", "fermi_level", "n_electrons",
            "n_electrons_atoms", "n_valence", "n_valence_check", "structure_hash"]
    out = {k: raw[k] for k in keys}
    out["grid_shape"] = np.array(raw["density"].shape, np.int32)
    return out


def pack_one(rec: dict, split: str, full_grid: bool, n_points: int) -> dict:
    """Write the committed file of one structure; return its index entry."""
    sid = rec["id"]
    raw = np.load(os.path.join(CACHE, sid + ".npz"))
    if str(raw["structure_hash"]) != rec["hash"]:
        raise ValueError("%s: cache was computed for a different structure" % sid)
    dens, base = raw["density"], raw["density_atoms"]
    arrays = common_fields(raw)
    arrays["id"] = np.array(sid)
    if full_grid:
        sub, kind = "grids", "grid"
        arrays.update(density=dens.astype(np.float32), density_atoms=base.astype(np.float32))
        n_stored = dens.size
    else:
        sub, kind = "probes", "probes"
        ijk, flag = sample_points(dens, n_points, rng_for(sid))
        shape = np.array(dens.shape)
        arrays.update(frac_coords=(ijk / shape).astype(np.float32),
                      density=dens[tuple(ijk.T)].astype(np.float32),
                      density_atoms=base[tuple(ijk.T)].astype(np.float32),
                      sample_kind=flag)
        n_stored = len(flag)
    os.makedirs(os.path.join(REF, sub), exist_ok=True)
    rel = "%s/%s.npz" % (sub, sid)
    path = os.path.join(REF, rel)
    save_npz(path, arrays)
    return dict(id=sid, formula=rec["formula"], composition=rec["composition"],
                prototype=rec["prototype"], variant=rec["variant"], split=split,
                kind=kind, grid_shape=[int(x) for x in dens.shape], n_points=int(n_stored),
                n_electrons=float(raw["n_electrons"]), n_valence=float(raw["n_valence"]),
                n_valence_check=float(raw["n_valence_check"]),
                gpaw_wall_time_s=float(raw["wall_time"]),
                file=rel, sha256=sha256(path), bytes=os.path.getsize(path))


def reusable_entry(rec: dict, split: str, old: dict | None) -> dict | None:
    """The previous index entry of ``rec`` if its packed file can stand in for a missing
    raw file: same split, file intact (sha256) and packed from the same structure."""
    if old is None or old["split"] != split:
        return None
    path = os.path.join(REF, old["file"])
    if not os.path.exists(path) or sha256(path) != old["sha256"]:
        return None
    with np.load(path) as z:
        return old if str(z["structure_hash"]) == rec["hash"] else None


def committed_size(root: str) -> int:
    """Bytes of everything under data/ except the git-ignored cache."""
    total = 0
    for d, dirs, files in os.walk(os.path.join(root, "data")):
        if os.path.relpath(d, root).startswith(os.path.join("data", "cache")):
            continue
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files)
    return total


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Pack GPAW densities into data/reference")
    ap.add_argument("--n-train", type=int, default=N_TRAIN)
    ap.add_argument("--n-test", type=int, default=N_TEST)
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args(argv)
    with open(os.path.join(REF, "structures.json")) as fh:
        recs = json.load(fh)["structures"]
    with open(os.path.join(REF, "split.json")) as fh:
        split = json.load(fh)
    test, examples = set(split["test"]), set(split["examples"])
    validation = set(split.get("validation", ()))
    done = [r for r in recs if os.path.exists(os.path.join(CACHE, r["id"] + ".npz"))]
    index_path = os.path.join(REF, "index.json")
    previous = {}
    if os.path.exists(index_path):
        with open(index_path) as fh:
            previous = {e["id"]: e for e in json.load(fh)["structures"]}
    failed = sorted(f[:-7] for f in os.listdir(CACHE) if f.endswith(".failed")) \
        if os.path.isdir(CACHE) else []
    print("%d of %d structures have a raw file in %s, %d failed"
          % (len(done), len(recs), CACHE, len(failed)))
    if args.dry_run:
        return 0
    entries = []
    have_raw = {r["id"] for r in done}
    for rec in recs:
        sp = "test" if rec["id"] in test else "validation" if rec["id"] in validation else "train"
        if rec["id"] not in have_raw:
            kept = reusable_entry(rec, sp, previous.get(rec["id"]))
            if kept is not None:
                entries.append(kept)
            elif rec["id"] in previous:
                print("dropped %s: no raw file and its packed file is stale" % rec["id"])
            continue
        full = rec["id"] in examples or (sp != "train" and rec["variant"] in FULL_GRID_VARIANTS)
        n = args.n_train if sp == "train" else args.n_test
        e = pack_one(rec, sp, full, n)
        if abs(e["n_valence_check"] - e["n_valence"]) > 1e-2:
            print("WARNING %s: valence check %.4f vs %g" % (rec["id"], e["n_valence_check"],
                                                          e["n_valence"]))
        entries.append(e)
    keep = {e["file"] for e in entries}
    for sub in ("grids", "probes"):
        d = os.path.join(REF, sub)
        for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            if "%s/%s" % (sub, f) not in keep:
                os.remove(os.path.join(d, f))  # stale file from an older packing
    index = {
        "description": "deepaw-nb GPAW reference densities (data/recipes/pack_reference.py)",
        "units": {"density": "electrons/Angstrom^3", "positions": "Angstrom",
                  "cell": "Angstrom", "energy": "eV", "frac_coords": "fractional"},
        "grid_convention": "point (i,j,k) of shape (nx,ny,nz) at fractional (i/nx,j/ny,k/nz)",
        "dft": "GPAW 22.8 PW(500) PBE, kpts density 2.5 (no Gamma), FermiDirac 0.05 eV, "
               "h=0.18, density conv. 1e-5, spin-paired; pseudo density on the fine grid",
        "density_atoms": "superposition of free-atom pseudo densities (GPAW initial guess)",
        "sampling": {"seed": SEED, "n_train": args.n_train, "n_test": args.n_test,
                     "kinds": {"0": "uniform over grid points", "1": "density-weighted"}},
        "partial": len(entries) < len(recs),
        "n_structures_total": len(recs), "n_packed": len(entries), "failed": failed,
        "total_bytes": sum(e["bytes"] for e in entries),
        "structures": entries,
    }
    with open(os.path.join(REF, "index.json.tmp"), "w") as fh:
        json.dump(index, fh, indent=1)
        fh.write("\n")
    os.replace(os.path.join(REF, "index.json.tmp"), os.path.join(REF, "index.json"))
    kinds = {k: sum(1 for e in entries if e["kind"] == k) for k in ("grid", "probes")}
    print("packed %d structures (%d full grids, %d probe sets): %.2f MB of npz"
          % (len(entries), kinds["grid"], kinds["probes"], index["total_bytes"] / 1e6))
    print("committed data/ (without cache): %.2f MB" % (committed_size(ROOT) / 1e6))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
