#!/usr/bin/env python3
"""Snapshots at scale: `make bench-scale` (1,000,000 files) or
`make bench-scale FILES=100000` (a few minutes).

Generates FILES small files (0-600 bytes, random) in FILES/100 folders of
100 (100 folders of FILES/10,000 subfolders), written from this one process,
then times bmlua against rsync in the same run, each command ended by `sync`
and, with root, started on a cold cache:
  first snapshot (rsync -a); nothing changed (rsync --link-dest);
  ten snapshots with 0.1% of the files changed (appended to), each timed and
  followed by the catalog's size (rsync --link-dest beside each);
  a restore of one file, of one folder and of the whole tree (rsync of the same);
  `snapshots diff` of the last two snapshots; `list` of one folder's backups.
Prints a table with peak RSS and writes bench/scale-results.json.

usage: scale.py BMLUA [--files N] [--work DIR] [--out FILE]
"""
import argparse, json, os, random, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from compare import in_work_folder, install_missing, timed  # noqa: E402  (one way to install the tools and to time a command, cold, with its peak RSS)


def ensure_tools():
    install_missing((("rsync", "rsync"), ("time", "/usr/bin/time"), ("gcc", "cc")))


def make_tree(root, files):
    """FILES files of 0-600 random bytes, 100 to a folder; returns their paths."""
    rng = random.Random(42)
    folders = max(1, files // 100)
    top = 100 if folders >= 100 else 1
    paths = []
    for k in range(folders):
        folder = os.path.join(root, "t%03d" % (k % top), "f%05d" % k)
        os.makedirs(folder, exist_ok=True)
        for i in range(100):
            if len(paths) == files:
                break
            path = os.path.join(folder, "file%03d.dat" % i)
            with open(path, "wb") as out:
                out.write(rng.randbytes(rng.randint(0, 600)))
            paths.append(path)
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bmlua")
    ap.add_argument("--files", type=int, default=int(os.environ.get("FILES", 1_000_000)))
    ap.add_argument("--work", default=None, help="where the tree and repositories go (default: a temp folder)")
    ap.add_argument("--out", default=os.path.join(HERE, "scale-results.json"))
    a = ap.parse_args()
    ensure_tools()
    in_work_folder("bmlua-scale.", a.work, lambda work: run(a, os.path.abspath(a.bmlua), work))


def run(a, bmlua, work):
    tree = os.path.join(work, "tree")
    print("bench: making the tree (%d files)" % a.files, flush=True)
    paths = make_tree(tree, a.files)
    env = dict(os.environ, BMLUA_REPO=work + "/bmlua", XDG_CONFIG_HOME=work + "/config", XDG_RUNTIME_DIR=work + "/run",
               XDG_STATE_HOME=work + "/state")
    subprocess.run([bmlua, "init", "-q"], env=env, check=True)
    subprocess.run([bmlua, "profile", "include", tree], env=env, check=True, stdout=subprocess.DEVNULL)
    catalog = work + "/bmlua/catalog.sqlite"
    rows, out = [], {"files": len(paths), "cold": True}

    def measure(step, tool, argv, cold=True):
        wanted = cold
        seconds, rss, cold = timed(argv, env=env, cold=cold)
        if wanted:   # the steps timed warm on purpose are named so
            out["cold"] = out["cold"] and cold
        rows.append((step, tool, seconds, rss))
        out.setdefault("steps", []).append({"step": step, "tool": tool, "seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1)})
        print("  %-26s %-22s %8.2f s %7.0f MB" % (step, tool, seconds, rss), flush=True)
        return seconds, rss

    def snapshots():
        listed = subprocess.run([bmlua, "snapshots", "--json"], env=env, check=True, capture_output=True).stdout
        return sorted(s["sid"] for s in json.loads(listed))

    measure("first snapshot", "rsync -a", ["rsync", "-a", tree + "/", work + "/rsync.0/"])
    measure("first snapshot", "bmlua", [bmlua, "snapshot", "-q"])
    # Nothing is deleted while the run times: on ext4 without a journal, for
    # minutes after many files are deleted each new inode is found only past
    # the freed ones, which would slow whatever runs next. Copies made with
    # --link-dest cost their folders only; the work folder goes at the end.
    measure("first snapshot", "floor (4 threads)", [work + "/floor", "store", tree, work + "/floor-repo", "4"])
    out["catalog_after_first"] = os.path.getsize(catalog)
    measure("nothing changed", "rsync --link-dest", ["rsync", "-a", "--link-dest=" + work + "/rsync.0", tree + "/", work + "/rsync.same/"])
    measure("nothing changed", "bmlua", [bmlua, "snapshot", "-q"])

    rng = random.Random(7)
    changed = max(1, len(paths) // 1000)
    out["changed_per_snapshot"] = changed
    growth = []
    previous = 0
    for n in range(1, 11):
        for path in rng.sample(paths, changed):
            with open(path, "ab") as f:
                f.write(b"changed\n")
        before = os.path.getsize(catalog)
        measure("0.1%% changed #%d" % n, "rsync --link-dest",
                ["rsync", "-a", "--link-dest=" + work + "/rsync.%d" % previous, tree + "/", work + "/rsync.%d/" % n])
        previous = n
        time.sleep(1.1)   # a snapshot's id is its second: two in one second are refused (error 4)
        measure("0.1%% changed #%d" % n, "bmlua", [bmlua, "snapshot", "-q"])
        grew = os.path.getsize(catalog) - before
        growth.append(grew)
        print("  %-26s catalog %.2f MB (+%.0f KB: %.1f bytes per changed file, %.2f per file)"
              % ("", os.path.getsize(catalog) / 1e6, grew / 1e3, grew / changed, grew / len(paths)), flush=True)
    out["catalog_growth_bytes"] = growth
    out["catalog_bytes"] = os.path.getsize(catalog)

    sids = snapshots()
    last = work + "/rsync.%d" % previous
    one = paths[len(paths) // 2]
    folder = os.path.dirname(one)
    measure("restore one file", "rsync -a", ["rsync", "-a", last + one[len(tree):], work + "/rsync-one"])
    measure("restore one file", "bmlua", [bmlua, "snapshots", "restore", sids[-1], one, "--to", work + "/out-one", "-q"])
    # Cold, half of that is loading bmlua itself; warm (run again) is what the restore costs.
    measure("restore one file (warm)", "bmlua", [bmlua, "snapshots", "restore", sids[-1], one, "--to", work + "/out-one-warm", "-q"], cold=False)
    measure("restore one folder", "rsync -a", ["rsync", "-a", last + folder[len(tree):] + "/", work + "/rsync-folder/"])
    measure("restore one folder", "bmlua", [bmlua, "snapshots", "restore", sids[-1], folder, "--to", work + "/out-folder", "-q"])
    measure("restore the whole tree", "rsync -a", ["rsync", "-a", last + "/", work + "/rsync-all/"])
    measure("restore the whole tree", "bmlua", [bmlua, "snapshots", "restore", sids[-1], "--to", work + "/out-all", "-q"])
    measure("diff of two snapshots", "bmlua", [bmlua, "snapshots", "diff", sids[-2], sids[-1], "-q"])
    measure("diff of two snapshots (warm)", "bmlua", [bmlua, "snapshots", "diff", sids[-2], sids[-1], "-q"], cold=False)
    measure("list of one folder", "bmlua", [bmlua, "list", folder, "-q"])

    report(out, rows)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("bench: wrote " + a.out)


def report(out, rows):
    def get(step, tool):
        return next(((s, m) for st, t, s, m in rows if st == step and t == tool), (None, None))

    files = out["files"]
    first, first_rss = get("first snapshot", "bmlua")
    rsync_first, _ = get("first snapshot", "rsync -a")
    floor, _ = get("first snapshot", "floor (4 threads)")
    same, same_rss = get("nothing changed", "bmlua")
    rsync_same, _ = get("nothing changed", "rsync --link-dest")
    growth = out["catalog_growth_bytes"]
    changed = out["changed_per_snapshot"]
    times = [get("0.1%% changed #%d" % n, "bmlua")[0] for n in range(1, 11)]
    peers = [get("0.1%% changed #%d" % n, "rsync --link-dest")[0] for n in range(1, 11)]
    ratios = {
        "first_snapshot_vs_rsync": first / rsync_first,
        "floor_vs_rsync": floor / rsync_first,
        "nothing_changed_vs_link_dest": same / rsync_same,
        "changed_vs_link_dest_median": sorted(t / p for t, p in zip(times, peers))[len(times) // 2],
        "catalog_growth_median_bytes": sorted(growth)[len(growth) // 2],
        "growth_allowed_bytes": 50 * changed + (files - changed),
    }
    out["ratios"] = {k: round(v, 3) for k, v in ratios.items()}
    print()
    print("%d files%s" % (files, "" if out["cold"] else " (warm cache: not root)"))
    print("  first snapshot:   %.2f s = %.2f× rsync -a (target ≤ 1), peak RSS %.0f MB (target ≤ 500); the floor %.2f s = %.2f× rsync"
          % (first, ratios["first_snapshot_vs_rsync"], first_rss, floor, ratios["floor_vs_rsync"]))
    print("  nothing changed:  %.2f s = %.2f× rsync --link-dest (target ≤ 0.5), peak RSS %.0f MB (target ≤ 300)"
          % (same, ratios["nothing_changed_vs_link_dest"], same_rss))
    print("  0.1%% changed:     median %.2f× rsync --link-dest; catalog growth median %.0f KB (allowed %.0f KB)"
          % (ratios["changed_vs_link_dest_median"], ratios["catalog_growth_median_bytes"] / 1e3, ratios["growth_allowed_bytes"] / 1e3))
    for step in ("restore one file", "restore one file (warm)", "restore one folder", "restore the whole tree", "diff of two snapshots",
                 "diff of two snapshots (warm)", "list of one folder"):
        s, m = get(step, "bmlua")
        peer = next(((t, x) for st, t, x, _ in rows if st == step and t != "bmlua"), None)
        print("  %-22s %.2f s, %.0f MB%s" % (step + ":", s, m, " (%s %.2f s)" % (peer[0], peer[1]) if peer else ""))


if __name__ == "__main__":
    main()
