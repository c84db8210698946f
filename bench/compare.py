#!/usr/bin/env python3
"""bmlua against its peers, side by side: `make bench-compare`.

Times, in one run and interleaved (each step of each round runs every tool
before the next step), N rounds of:
  first backup; nothing changed; 1% of the files changed (appended to);
  a full restore into a new folder; a 1 GiB file (bmlua backup against cp);
  bmlua's first snapshot with hooks on every file against none.
Tools: cp -a (first backup only), rsync -a then --link-dest (Back In Time's
engine), restic, borg (-e none) and bmlua. Beside them, not a peer, the
floor (bench/floor.c): the least work a first backup (read, hash, write an
object) and a restore (read, write, rename) can be, on 4 threads; a target
below the floor is out of reach. Every timed command ends with
`sync`, so each pays for its durability. With root, caches are dropped
before every timed command (cold); otherwise the table says they are warm.

Prints medians (min–max), peak RSS, and each bmlua figure's ratio to the
fastest peer; writes bench/results.json.

usage: compare.py BMLUA [--rounds N] [--files N] [--work DIR] [--out FILE] [--settle SECONDS]
"""
import argparse, json, os, random, shutil, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
SETTLE = 0.0   # seconds of rest before each timed command (--settle)


def ensure_peers():
    install_missing((("rsync", "rsync"), ("restic", "restic"), ("borgbackup", "borg"), ("time", "/usr/bin/time"), ("gcc", "cc")))


def install_missing(tools):
    """apt-get installs each (package, executable) whose executable is not on
    PATH, and libssl-dev, which bench/floor.c builds against."""
    missing = [pkg for pkg, exe in tools if shutil.which(exe) is None]
    if not os.path.exists("/usr/include/openssl/evp.h"):
        missing.append("libssl-dev")
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("bench: installing " + " ".join(missing), flush=True)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(sudo + ["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL)
        subprocess.run(sudo + ["apt-get", "install", "-y", "-q"] + missing, check=True, env=env, stdout=subprocess.DEVNULL)


def make_tree(root, files):
    """20,000 files in 300×7 folders; sizes 10^U(2, 4.8), 5% 10^U(2, 6.02) capped at 1 MiB."""
    random.seed(42)
    folders = [os.path.join(root, "d%03d" % i, "s%d" % j) for i in range(300) for j in range(7)]
    for f in folders:
        os.makedirs(f, exist_ok=True)
    sizes = []
    for i in range(files):
        high = 6.02 if random.random() < 0.05 else 4.8
        size = min(int(10 ** random.uniform(2, high)), 1 << 20)
        path = os.path.join(folders[i % len(folders)], "f%06d.bin" % i)
        with open(path, "wb") as out:
            out.write(random.randbytes(size))
        sizes.append((path, size))
    return sizes


def drop_caches():
    subprocess.run(["sync"], check=True)
    if os.geteuid() == 0:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    return False


def timed(argv, env=None, cold=True, settle=None):
    """Seconds (the command, then sync) and the peak RSS in MB of its largest
    process, as GNU time reports it (a small C parent: a Python parent's
    pages would count in a forked child's peak). `cold=False`: caches kept."""
    cold = drop_caches() if cold else False
    # A virtual disk may still be writing what the command before it synced
    # (the host's own cache): the next command would pay for it.
    time.sleep(SETTLE if settle is None else settle)
    report = tempfile.NamedTemporaryFile(prefix="bench-time.", delete=False).name
    t = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report] + argv, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.sync()
    seconds = time.monotonic() - t
    with open(report) as f:
        lines = f.read().split()
    os.unlink(report)
    if p.returncode != 0:
        raise SystemExit("bench: %s failed (%d): %s" % (" ".join(argv), p.returncode, p.stderr.decode(errors="replace")[-2000:]))
    return seconds, int(lines[-1]) / 1024, cold


class Results:
    def __init__(self):
        self.times, self.rss, self.cold = {}, {}, True

    def add(self, step, tool, measured):
        seconds, rss, cold = measured
        self.times.setdefault(step, {}).setdefault(tool, []).append(seconds)
        self.rss.setdefault(step, {}).setdefault(tool, []).append(rss)
        self.cold = self.cold and cold
        print("  %-16s %-28s %7.2f s %6.0f MB" % (step, tool, seconds, rss), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bmlua")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 3)))
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--work", default=None, help="where the trees and repositories go (default: a temp folder)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--settle", type=float, default=float(os.environ.get("SETTLE", 5)),
                    help="seconds of rest before each timed command, for a disk that writes on after a sync")
    a = ap.parse_args()
    global SETTLE
    SETTLE = a.settle
    bmlua = os.path.abspath(a.bmlua)
    ensure_peers()
    in_work_folder("bmlua-compare.", a.work, lambda work: run(a, bmlua, work))


def in_work_folder(prefix, parent, body):
    """body(work): in a new folder under `parent` (or the temp folder), with
    the floor built as work/floor; the folder goes afterwards."""
    work = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        subprocess.run(["cc", "-O2", "-pthread", "-o", work + "/floor", os.path.join(HERE, "floor.c"), "-lcrypto"], check=True)
        body(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(a, bmlua, work):
    tree = os.path.join(work, "tree")
    print("bench: making the tree (%d files)" % a.files, flush=True)
    sizes = make_tree(tree, a.files)
    big = os.path.join(work, "big", "one-gib.bin")
    os.makedirs(os.path.dirname(big))
    with open(big, "wb") as out:
        block = random.randbytes(1 << 20)
        for _ in range(1024):
            out.write(block[1:] + block[:1]); block = block[1:] + block[:1]
    total = sum(s for _, s in sizes)
    print("bench: %d files, %.0f MB; 1 GiB file" % (len(sizes), total / 1e6), flush=True)
    env = dict(os.environ, RESTIC_PASSWORD="bench", BORG_PASSPHRASE="", BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK="yes",
               BORG_RELOCATED_REPO_ACCESS_IS_OK="yes")
    r = Results()
    changed = random.Random(7).sample(sizes, max(1, len(sizes) // 100))

    for round_ in range(1, a.rounds + 1):
        print("round %d" % round_, flush=True)
        d = os.path.join(work, "r%d" % round_)
        os.makedirs(d)
        benv = dict(env, BMLUA_REPO=d + "/bmlua", XDG_CONFIG_HOME=d + "/config", XDG_RUNTIME_DIR=d + "/run",
                    XDG_STATE_HOME=d + "/state")
        henv = dict(benv, BMLUA_REPO=d + "/bmlua-hooks", XDG_CONFIG_HOME=d + "/config-hooks")
        for e in (benv, henv):
            subprocess.run([bmlua, "init", "-q"], env=e, check=True)
            subprocess.run([bmlua, "profile", "include", tree], env=e, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["restic", "init", "-q", "-r", d + "/restic"], env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["borg", "init", "-e", "none", d + "/borg"], env=env, check=True)
        routine = os.path.join(HERE, "..", "hooks", "examples", "hdtstamp.lua")
        subprocess.run([bmlua, "routine", "add", routine], env=henv, check=True, stdout=subprocess.DEVNULL)
        for n, code in ((1, "local path = bhin[1]"), (2, "hdtstamp(2)"), (6, "hdtstamp(6)")):
            subprocess.run([bmlua, "hooks", "set", str(n), code], env=henv, check=True, stdout=subprocess.DEVNULL)

        first = {
            "cp -a": ["cp", "-a", tree, d + "/cp"],
            "rsync -a": ["rsync", "-a", tree + "/", d + "/rsync.1/"],
            "restic": ["restic", "-r", d + "/restic", "backup", "-q", tree],
            "borg": ["borg", "create", d + "/borg::1", tree],
            "bmlua": [bmlua, "snapshot", "-q"],
            "floor (4 threads)": [work + "/floor", "store", tree, d + "/floor", "4"],
        }
        for tool, argv in first.items():
            r.add("first backup", tool, timed(argv, env=benv))
        r.add("hooks: first", "bmlua (no hooks)", r_last(r, "first backup", "bmlua"))
        r.add("hooks: first", "bmlua (hooks 1, 2, 6)", timed([bmlua, "snapshot", "-q"], env=henv))

        def incremental(step, n):
            steps = {
                "rsync --link-dest": ["rsync", "-a", "--link-dest=" + d + "/rsync.%d" % (n - 1), tree + "/", d + "/rsync.%d/" % n],
                "restic": ["restic", "-r", d + "/restic", "backup", "-q", tree],
                "borg": ["borg", "create", d + "/borg::%d" % n, tree],
                "bmlua": [bmlua, "snapshot", "-q"],
            }
            for tool, argv in steps.items():
                r.add(step, tool, timed(argv, env=benv))

        incremental("nothing changed", 2)
        for path, _ in changed:
            with open(path, "ab") as out:
                out.write(b"appended\n")
        incremental("1% changed", 3)

        sid = json.loads(subprocess.run([bmlua, "snapshots", "--json"], env=benv, check=True, capture_output=True).stdout)[0]["sid"]
        os.makedirs(d + "/borg-out")
        restores = {
            "rsync -a": ["rsync", "-a", d + "/rsync.3/", d + "/rsync-out/"],
            "restic": ["restic", "-r", d + "/restic", "restore", "-q", "latest", "--target", d + "/restic-out"],
            "borg": ["sh", "-c", 'cd "$0" && borg extract "$1"', d + "/borg-out", d + "/borg::3"],
            "bmlua": [bmlua, "snapshots", "restore", sid, "--to", d + "/bmlua-out", "-q"],
            "floor (4 threads)": [work + "/floor", "copy", d + "/rsync.3", d + "/floor-out", "4"],
        }
        for tool, argv in restores.items():
            r.add("full restore", tool, timed(argv, env=benv))

        # Whichever writes its GiB second is slowed by the first's (the
        # virtual disk is still writing it out after the sync): alternate.
        # And rest longer: after the restores' 1.5 GB, a GiB written 5 s later
        # took twice as long as one written alone, by cp or by bmlua. (In the
        # one run made with it, 30 s did not bring either back to that.)
        big_steps = [("cp", ["cp", big, d + "/big-copy"], env), ("bmlua backup", [bmlua, "backup", "-q", big], benv)]
        for tool, argv, e in big_steps if round_ % 2 else reversed(big_steps):
            r.add("1 GiB file", tool, timed(argv, env=e, settle=6 * SETTLE))

        for path, size in changed:
            os.truncate(path, size)
        # The round's copies stay until the run ends: on ext4 without a
        # journal, new inodes are slow to find for minutes after many files
        # are deleted, which would slow the next round's first backups.

    report(a, r, total, len(sizes))


def r_last(r, step, tool):
    return (r.times[step][tool][-1], r.rss[step][tool][-1], r.cold)


def med(xs):
    return statistics.median(xs)


def report(a, r, total, files):
    print()
    print("%d files, %.0f MB; %d rounds, interleaved; cache %s; medians (min–max)" %
          (files, total / 1e6, a.rounds, "cold (dropped before each command)" if r.cold else "WARM (not root: could not drop it)"))
    out = {"files": files, "bytes": total, "rounds": a.rounds, "cold_cache": r.cold, "steps": {}}
    for step, tools in r.times.items():
        print("\n%s" % step)
        peers = {t: med(v) for t, v in tools.items() if not t.startswith(("bmlua", "floor"))}
        floor = next((med(v) for t, v in tools.items() if t.startswith("floor")), None)
        fastest = min(peers.items(), key=lambda kv: kv[1]) if peers else None
        entry = {}
        for tool, xs in tools.items():
            rss = med(r.rss[step][tool])
            line = "  %-24s %7.2f s (%.2f–%.2f)  peak RSS %5.0f MB" % (tool, med(xs), min(xs), max(xs), rss)
            e = {"median_s": round(med(xs), 3), "min_s": round(min(xs), 3), "max_s": round(max(xs), 3),
                 "peak_rss_mb": round(rss, 1), "runs_s": [round(x, 3) for x in xs]}
            if tool.startswith("bmlua") and fastest:
                ratio = med(xs) / fastest[1]
                line += "   %.2f× %s" % (ratio, fastest[0])
                e["ratio_to_fastest_peer"] = round(ratio, 3)
                e["fastest_peer"] = fastest[0]
                if floor:
                    line += "; %.2f× the floor" % (med(xs) / floor)
                    e["ratio_to_floor"] = round(med(xs) / floor, 3)
            entry[tool] = e
            print(line)
        if floor and fastest:
            print("  the floor is %.2f× %s: a target below that is out of reach" % (floor / fastest[1], fastest[0]))
            entry["floor_ratio_to_fastest_peer"] = round(floor / fastest[1], 3)
        if step == "hooks: first":
            plain, hooks = tools["bmlua (no hooks)"], tools["bmlua (hooks 1, 2, 6)"]
            base, hooked = med(plain), med(hooks)
            # Round by round too: both runs of a round see the same disk, so
            # one slow round moves one ratio, not the median of one side.
            paired = med([h / p for p, h in zip(plain, hooks)])
            print("  hooks on every file cost %+.1f%% (medians); %+.1f%% (median of the rounds' ratios)"
                  % ((hooked / base - 1) * 100, (paired - 1) * 100))
            entry["hooks_cost_percent"] = round((hooked / base - 1) * 100, 1)
            entry["hooks_cost_percent_paired"] = round((paired - 1) * 100, 1)
        if step == "1 GiB file":
            ratio = med(tools["cp"]) / med(tools["bmlua backup"])
            print("  bmlua's throughput: %.2f× cp's" % ratio)
            entry["throughput_ratio_to_cp"] = round(ratio, 3)
        out["steps"][step] = entry
    with open(a.out, "w") as f:
        json.dump(out, f, indent=2, sort_keys=True)
        f.write("\n")
    print("\nwritten: %s" % a.out)


if __name__ == "__main__":
    main()
