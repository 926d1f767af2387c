#!/usr/bin/python3
"""GPAW reference densities for the deepaw-nb training set (resumable, parallel).

What it does
    For every structure in ``data/reference/structures.json`` (written by
    ``data/recipes/build_structures.py``) run one spin-unpolarised GPAW 22.8 SCF
    calculation with the fixed project settings (``SETTINGS`` below) and write
    ``data/cache/gpaw/<id>.npz`` (see ``compute_one`` for the keys).  Besides the
    converged pseudo density it stores ``density_atoms``: the superposition of
    free-atom pseudo densities that GPAW builds as its initial guess, taken on
    the same fine grid *before* the SCF starts (see ``atoms_baseline``).

How to run (from the repository root; needs Debian's ``gpaw`` + ``gpaw-data``)
    /usr/bin/python3 data/recipes/gpaw_densities.py --jobs 2            # everything
    /usr/bin/python3 data/recipes/gpaw_densities.py --only Si_diamond   # one structure
    Background run used for the committed data:
    nohup nice -n 19 /usr/bin/python3 data/recipes/gpaw_densities.py --jobs 2 \
        > data/cache/gpaw_run.log 2>&1 &  echo $! > data/cache/gpaw_run.pid

How long
    One core per structure (OMP_NUM_THREADS=1).  Measured on this machine:
    2-atom cells 5-30 s, rattled (symmetry-free) small cells up to a few
    minutes, 6-atom oxides about 1 min, the 12-atom monoclinic oxides much
    longer; the whole set takes many hours.  Timings go to
    ``data/cache/gpaw/timings.tsv``.

How to resume
    Just start it again: finished structures (an existing ``<id>.npz``) are
    skipped, outputs are written atomically (temporary file + rename), and a
    structure that failed or timed out is recorded in ``<id>.failed`` and skipped
    unless ``--retry-failed`` is given.  Stop a run with ``kill <pid>``.

Grid convention (checked with GPAW 22.8, ``finegd.get_grid_point_coordinates``):
for a fully periodic cell the fine-grid point (i, j, k) sits at fractional
coordinates (i/nx, j/ny, k/nz) exactly, with no offset and no padding.
Only the Debian python's gpaw, ase and numpy are used here.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STRUCTURES = os.path.join(ROOT, "data", "reference", "structures.json")
OUTDIR = os.path.join(ROOT, "data", "cache", "gpaw")

# Fixed DFT settings: do not change (all numbers we quote must be comparable).
SETTINGS = dict(mode={"name": "pw", "ecut": 500.0}, xc="PBE",
                kpts={"density": 2.5, "gamma": False},
                occupations={"name": "fermi-dirac", "width": 0.05},
                h=0.18, convergence={"density": 1e-5}, spinpol=False)
GRID_CONVENTION = ("fine-grid point (i,j,k) at fractional (i/nx, j/ny, k/nz); "
                   "density in electrons/Angstrom^3; GPAW pseudo density incl. "
                   "smooth pseudo-core (nct)")


def load_structures(path=STRUCTURES):
    """Return the structure records (list of dicts) from ``structures.json``."""
    with open(path) as fh:
        return json.load(fh)["structures"]


def make_atoms(rec):
    """ASE Atoms from a structure record (positions and cell in Angstrom)."""
    from ase import Atoms
    a = rec["atoms"]
    return Atoms(numbers=a["numbers"], positions=a["positions"], cell=a["cell"],
                 pbc=a["pbc"])


def make_calc(txt):
    """GPAW calculator with the fixed project settings, logging to ``txt``."""
    from gpaw import GPAW, PW, FermiDirac
    return GPAW(mode=PW(SETTINGS["mode"]["ecut"]), xc=SETTINGS["xc"],
                kpts=dict(SETTINGS["kpts"]), h=SETTINGS["h"],
                occupations=FermiDirac(SETTINGS["occupations"]["width"]),
                convergence=dict(SETTINGS["convergence"]), spinpol=False, txt=txt)


def electron_bookkeeping(calc, density, volume):
    """Electron counts (dimensionless) for a pseudo density on the fine grid.

    ``n_pseudo`` = integral of the stored grid (sum * dV, dV in Angstrom^3);
    ``n_core_smooth`` = sum over atoms of the integrated smooth pseudo core
    charge (it is part of GPAW's pseudo density); ``paw_valence`` = sum over
    atoms of the PAW valence correction sqrt(4 pi) D_p Delta_p0, i.e. the
    integrated (all-electron - pseudo) valence density inside the spheres.
    Then ``n_valence_check = n_pseudo - n_core_smooth + paw_valence`` must equal
    the valence count of the setups (sum of Nv).
    """
    dv = volume / density.size
    n_pseudo = float(density.sum(dtype=np.float64) * dv)
    setups = calc.setups
    dens = calc.density
    n_core = float(sum(s.Nct for s in setups))
    paw = 0.0
    for a, setup in enumerate(setups):
        d_p = dens.D_asp[a][0]
        paw += float(np.sqrt(4 * np.pi) * np.dot(d_p, setup.Delta_pL[:, 0]))
    n_val = float(sum(s.Nv for s in setups))
    return dict(n_pseudo=n_pseudo, n_core_smooth=n_core, paw_valence=paw,
                n_valence=n_val, n_valence_check=n_pseudo - n_core + paw)


def atoms_baseline(calc, atoms):
    """Superposition of free-atom pseudo densities on the fine grid (e/A^3).

    GPAW 22.8 (``Density.initialize_from_atomic_densities``) builds the initial
    density as sum_a [sum_i f_i |phi_i^a(r - R_a)|^2 + nct^a(r - R_a)], with the
    neutral-atom reference occupations f_i of each setup and its bound pseudo
    orbitals (here the setups' own partial waves, no dzp basis), renormalised so
    that the cell is neutral, then interpolates it to the fine grid.  We trigger
    exactly that step (``initialize`` + ``set_positions``) and read it out
    before any SCF iteration; the SCF then continues from this state.
    """
    calc.atoms = atoms.copy()
    calc.initialize(atoms)
    calc.set_positions(atoms)
    return np.array(calc.get_pseudo_density(gridrefinement=2), dtype=np.float32)


def compute_one(rec, outdir):
    """Run one structure and write ``<outdir>/<id>.npz`` atomically."""
    import ase
    import gpaw
    sid = rec["id"]
    os.makedirs(os.path.join(outdir, "logs"), exist_ok=True)
    atoms = make_atoms(rec)
    t0 = time.time()
    calc = make_calc(os.path.join(outdir, "logs", sid + ".txt"))
    atoms.calc = calc
    base = atoms_baseline(calc, atoms)
    volume = atoms.get_volume()
    base_count = electron_bookkeeping(calc, base, volume)
    energy = atoms.get_potential_energy()
    dens = np.array(calc.get_pseudo_density(gridrefinement=2), dtype=np.float32)
    wall = time.time() - t0
    count = electron_bookkeeping(calc, dens, volume)
    fg = calc.density.finegd
    assert fg.pbc_c.all() and tuple(fg.N_c) == dens.shape == base.shape
    out = dict(
        structure_id=sid, structure_hash=rec["hash"],
        density=dens, density_atoms=base,
        numbers=atoms.numbers.astype(np.int32), positions=atoms.positions,
        cell=np.array(atoms.cell), pbc=atoms.pbc,
        energy=energy, free_energy=calc.get_potential_energy(atoms, force_consistent=True),
        fermi_level=calc.get_fermi_level(),
        n_electrons=count["n_pseudo"], n_electrons_atoms=base_count["n_pseudo"],
        n_valence_check_atoms=base_count["n_valence_check"],
        n_valence=count["n_valence"], n_core_smooth=count["n_core_smooth"],
        paw_valence_correction=count["paw_valence"],
        n_valence_check=count["n_valence_check"],
        scf_iterations=calc.scf.niter, n_ibz_kpoints=len(calc.get_ibz_k_points()),
        wall_time=wall, gpaw_version=gpaw.__version__, ase_version=ase.__version__,
        settings=json.dumps(SETTINGS, sort_keys=True), grid_convention=GRID_CONVENTION,
    )
    final = os.path.join(outdir, sid + ".npz")
    tmp = os.path.join(outdir, ".%s.%d.tmp.npz" % (sid, os.getpid()))
    np.savez_compressed(tmp, **out)
    os.replace(tmp, final)
    print("%s: E=%.6f eV  N_pseudo=%.5f  N_val_check=%.5f (Nv=%g)  %.1f s"
          % (sid, energy, count["n_pseudo"], count["n_valence_check"],
             count["n_valence"], wall), flush=True)


def _order(records, first):
    """Cheapest first; ``first`` ids lead.

    Estimated cost = number of atoms, times 8 for the symmetry-free variants
    (rattled, vacancy), which need about 8x more k-points than the symmetric
    cells; ties broken by cell volume (Angstrom^3).
    """
    def key_of(rec):
        sym_free = rec["variant"] == "rattle" or rec["variant"].startswith("vacancy")
        n = len(rec["atoms"]["numbers"]) * (8 if sym_free else 1)
        return (n, abs(np.linalg.det(np.array(rec["atoms"]["cell"]))))
    key = {r["id"]: key_of(r) for r in records}
    rest = sorted((r for r in records if r["id"] not in first), key=lambda r: key[r["id"]])
    lead = [r for f in first for r in records if r["id"] == f]
    return lead + rest


def schedule(args):
    """Run the missing structures with ``args.jobs`` worker processes."""
    os.makedirs(os.path.join(OUTDIR, "logs"), exist_ok=True)
    records = load_structures(args.structures)
    if args.only:
        wanted = set(args.only.split(","))
        records = [r for r in records if r["id"] in wanted]
    todo = []
    for rec in _order(records, args.first.split(",") if args.first else []):
        done = os.path.exists(os.path.join(OUTDIR, rec["id"] + ".npz"))
        failed = os.path.exists(os.path.join(OUTDIR, rec["id"] + ".failed"))
        if not done and (args.retry_failed or not failed):
            todo.append(rec)
    print("%d structures, %d to do, %d jobs" % (len(records), len(todo), args.jobs),
          flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    timings = os.path.join(OUTDIR, "timings.tsv")
    running = {}
    while todo or running:
        while todo and len(running) < args.jobs:
            rec = todo.pop(0)
            log = open(os.path.join(OUTDIR, "logs", rec["id"] + ".out"), "w")
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", rec["id"],
                   "--structures", args.structures]
            proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            running[rec["id"]] = (proc, time.time(), log, rec)
        time.sleep(0.5)
        for sid, (proc, t0, log, rec) in list(running.items()):
            rc = proc.poll()
            elapsed = time.time() - t0
            if rc is None and elapsed > args.timeout:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = "timeout"
            if rc is None:
                continue
            log.close()
            del running[sid]
            status = "ok" if rc == 0 else ("timeout" if rc == "timeout" else "rc=%s" % rc)
            if status != "ok":
                with open(os.path.join(OUTDIR, sid + ".failed"), "w") as fh:
                    json.dump({"id": sid, "status": status, "elapsed_s": elapsed}, fh)
            line = "%s\t%s\t%d\t%s\t%.1f" % (time.strftime("%Y-%m-%d %H:%M:%S"), sid,
                                             len(rec["atoms"]["numbers"]), status, elapsed)
            with open(timings, "a") as fh:
                fh.write(line + "\n")
            print(line, "(%d left, %d running)" % (len(todo), len(running)), flush=True)
    print("all done", flush=True)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--structures", default=STRUCTURES)
    p.add_argument("--jobs", type=int, default=2, help="parallel GPAW processes")
    p.add_argument("--timeout", type=float, default=4 * 3600.0,
                   help="per-structure wall-clock limit (s)")
    p.add_argument("--only", default="", help="comma-separated ids to run")
    p.add_argument("--first", default="", help="comma-separated ids to start first")
    p.add_argument("--retry-failed", action="store_true")
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        recs = {r["id"]: r for r in load_structures(args.structures)}
        compute_one(recs[args.worker], OUTDIR)
    else:
        schedule(args)


if __name__ == "__main__":
    main()
