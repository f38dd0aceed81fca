#!/usr/bin/env python3
"""Safety of the files behind `fluxcap run --state FILE` (docs/cli.md, "State files").

  - one writer at a time: a lock (FILE.lock) held for the whole run; a second run on
    the same state fails at once (exit 1, naming the holder's pid) or waits with
    --wait-lock SECONDS; the same through a symbolic link and with --incremental;
  - only files fluxcap wrote are removed (not FILE.delta-*.bak, notes...);
  - a missing FILE with checkpoint files present is refused (exit 1), nothing removed;
  - a save keeps FILE's mode and owner; a symbolic link is written through to its
    target; a FIFO, a device or a directory is refused at once; names too long for
    the file system are refused at start (exit 2), before any output.

  state_files_test.py PATH/TO/fluxcap
"""
import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

SPEC = """rules:
  - rulename: parent
    action: parent
    parent: ppid
    child: pid
    tags: [script, shell]
"""

failed = False


def check(cond, what):
    global failed
    if not cond:
        failed = True
        print("FAIL: " + what)


def events(first, n):
    return "".join('{"host":"h%d","pid":%d,"ppid":%d,"sigma":{"parent":{"shell":true}}}\n' %
                   (i % 7, i, i - 1) for i in range(first, first + n))


def main():
    fluxcap = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="fluxcap-state-files-")
    try:
        os.chdir(work)
        with open("spec.yaml", "w") as f:
            f.write(SPEC)
        with open("a.jsonl", "w") as f:
            f.write(events(1, 200))
        with open("b.jsonl", "w") as f:
            f.write(events(201, 50))
        base = ["--spec", "spec.yaml", "--group-key", "host", "--capacity", "40"]

        def run(args, timeout=60, stdin=None):
            r = subprocess.run([fluxcap, "run"] + base + args, capture_output=True,
                               timeout=timeout, stdin=stdin)
            return r.returncode, r.stdout, r.stderr.decode(errors="replace")

        def state_files(state):
            return sorted(f for f in glob.glob(state + "*") if not f.endswith(".lock"))

        def snapshot(state):
            return {f: open(f, "rb").read() for f in state_files(state)}

        def holder(state, extra=()):
            """A run holding the lock on `state` while it waits for standard input."""
            p = subprocess.Popen([fluxcap, "run"] + base + list(extra) + ["--state", state],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
            lock = os.path.realpath(state) + ".lock"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if os.path.exists(lock) and open(lock).read().strip() == str(p.pid):
                    return p
                time.sleep(0.01)
            p.kill()
            p.wait()
            check(False, "the holder never wrote its pid to %s" % lock)
            return None

        # States compared byte for byte start from copies of one empty state: one hash key
        # (a new state draws a random one).
        rc, _, err = run(["--state", "seed.state", os.devnull])
        check(rc == 0, "seed run: %s" % err)

        def seeded(state):
            shutil.copyfile("seed.state", state)
            return state

        # ---- 2. one writer at a time
        rc, _, err = run(["--state", seeded("s.state"), "a.jsonl"])
        check(rc == 0, "first run: %s" % err)
        check(os.path.exists("s.state.lock"), "no lock file beside the state")
        before = snapshot("s.state")
        p = holder("s.state")
        if p:
            started = time.monotonic()
            rc, out, err = run(["--state", "s.state", "b.jsonl"])
            check(time.monotonic() - started < 5, "a second run did not fail at once")
            check(rc == 1 and out == b"" and ("pid %d" % p.pid) in err and "s.state" in err and
                  "--wait-lock" in err, "second writer: %d %r" % (rc, err))
            check(snapshot("s.state") == before, "the refused run changed the state")
            # --incremental is locked by the same file.
            rc, _, err = run(["--state", "s.state", "--incremental", "b.jsonl"])
            check(rc == 1 and ("pid %d" % p.pid) in err, "incremental second writer: %r" % err)
            # A bounded wait that times out.
            started = time.monotonic()
            rc, _, err = run(["--state", "s.state", "--wait-lock", "0.5", "b.jsonl"])
            took = time.monotonic() - started
            check(rc == 1 and 0.4 < took < 5 and ("pid %d" % p.pid) in err,
                  "--wait-lock 0.5: %d after %.2f s: %r" % (rc, took, err))
            # A wait that ends when the holder finishes.
            w = subprocess.Popen([fluxcap, "run"] + base + ["--state", "s.state", "--wait-lock",
                                                            "30", "b.jsonl"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(0.5)
            check(w.poll() is None, "--wait-lock 30 did not wait")
            p.stdin.write(events(300, 20).encode())
            p.stdin.close()
            check(p.wait(30) == 0, "the holder failed: %r" % p.stderr.read())
            p.stdout.close()
            p.stderr.close()
            wout, werr = w.communicate(timeout=30)
            check(w.returncode == 0 and len(wout.splitlines()) == 50,
                  "the waiting run: %d %r" % (w.returncode, werr))
        # The waiter ran after the holder: the state holds both (same as a serial chain).
        rc, _, err = run(["--state", seeded("serial.state"), "a.jsonl"])
        subprocess.run([fluxcap, "run"] + base + ["--state", "serial.state"],
                       input=events(300, 20).encode(), capture_output=True)
        run(["--state", "serial.state", "b.jsonl"])
        check(open("serial.state", "rb").read() == open("s.state", "rb").read(),
              "the lock did not serialise the runs")
        # Through a symbolic link: the same lock as the target's.
        os.symlink("s.state", "link.state")
        p = holder("s.state")
        if p:
            rc, _, err = run(["--state", "link.state", "b.jsonl"])
            check(rc == 1 and ("pid %d" % p.pid) in err, "lock through a symlink: %r" % err)
            p.stdin.close()
            p.wait(30)
            p.stdout.close()
            p.stderr.close()
        # A killed holder releases the lock (the kernel drops it with the process).
        p = holder("s.state")
        if p:
            p.kill()
            p.wait()
            p.stdout.close()
            p.stderr.close()
            rc, _, err = run(["--state", "s.state", "b.jsonl"])
            check(rc == 0, "after a killed holder: %r" % err)
        # Bad values.
        rc, _, err = run(["--state", "s.state", "--wait-lock", "soon", "b.jsonl"])
        check(rc == 2 and "--wait-lock" in err, "--wait-lock soon: %d %r" % (rc, err))
        rc, _, err = run(["--wait-lock", "3", "b.jsonl"])
        check(rc == 2 and "--state" in err, "--wait-lock without --state: %d %r" % (rc, err))

        # ---- 6. only names fluxcap wrote are removed
        run(["--state", "u.state", "a.jsonl"])
        run(["--state", "u.state", "--incremental", "b.jsonl"])
        deltas = glob.glob("u.state.delta-*")
        check(len(deltas) == 1, "expected one checkpoint: %s" % deltas)
        mine = [deltas[0] + ".bak", "u.state.delta-notes.txt", "u.state.delta-",
                "u.state.delta-0123456789abcdef-000001.orig",
                "u.state.delta-0123456789abcdef-1"]
        for f in mine:
            with open(f, "w") as fh:
                fh.write("mine\n")
        rc, _, err = run(["--state", "u.state", "--incremental", "b.jsonl"])
        check(rc == 0, "run with user files: %s" % err)
        rc, _, err = run(["--state", "u.state", "b.jsonl"])  # a full save removes checkpoints
        check(rc == 0, "full save with user files: %s" % err)
        check(not glob.glob("u.state.delta-*-0000*") or
              all(f in mine for f in glob.glob("u.state.delta-*")), "a checkpoint was kept")
        for f in mine:
            check(os.path.exists(f) and open(f).read() == "mine\n", "user file %s removed" % f)

        # ---- 7. a missing snapshot with checkpoints present
        run(["--state", "m.state", "a.jsonl"])
        run(["--state", "m.state", "--incremental", "b.jsonl"])
        os.remove("m.state")
        before = snapshot("m.state")
        rc, out, err = run(["--state", "m.state", "--incremental", "b.jsonl"])
        check(rc == 1 and out == b"" and "'m.state'" in err and "missing" in err and
              "backup" in err, "missing snapshot: %d %r" % (rc, err))
        check(snapshot("m.state") == before and len(before) == 1,
              "missing snapshot: the checkpoints were touched: %s" % state_files("m.state"))
        rc, _, err = run(["--state", "m.state", "b.jsonl"])
        check(rc == 1 and snapshot("m.state") == before, "missing snapshot, full: %r" % err)

        # ---- 8. file safety
        # Mode kept (0600 stays 0600), for the snapshot and the checkpoints.
        run(["--state", "p.state", "a.jsonl"])
        os.chmod("p.state", 0o600)
        run(["--state", "p.state", "b.jsonl"])
        check(stat.S_IMODE(os.stat("p.state").st_mode) == 0o600,
              "mode not kept: %o" % os.stat("p.state").st_mode)
        run(["--state", "p.state", "--incremental", "b.jsonl"])
        for f in glob.glob("p.state.delta-*"):
            check(stat.S_IMODE(os.stat(f).st_mode) == 0o600, "checkpoint mode: %s" % f)
        os.chmod("p.state", 0o640)
        run(["--state", "p.state", "b.jsonl"])
        check(stat.S_IMODE(os.stat("p.state").st_mode) == 0o640, "mode 0640 not kept")
        # Owner kept (when run as root, which may give files away).
        if os.geteuid() == 0:
            os.chown("p.state", 65534, 65534)
            rc, _, err = run(["--state", "p.state", "b.jsonl"])
            st = os.stat("p.state")
            check(rc == 0 and (st.st_uid, st.st_gid) == (65534, 65534),
                  "owner not kept: %d %r %d:%d" % (rc, err, st.st_uid, st.st_gid))
        # Another user's state (whose owner a save could not keep): refused at start.
        if os.geteuid() == 0 and shutil.which("setpriv") and os.access(fluxcap, os.X_OK):
            os.mkdir("shared")
            os.chmod("shared", 0o1777)
            os.chmod(work, 0o755)
            run(["--state", "shared/root.state", "a.jsonl"])
            os.chmod("shared/root.state", 0o666)
            nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
            r = subprocess.run(nobody + [fluxcap, "run"] + base + ["--state", "shared/root.state",
                                                                   "b.jsonl"],
                               capture_output=True)
            check(r.returncode == 2 and b"belongs to another user" in r.stderr and
                  r.stdout == b"", "another user's state: %d %r" % (r.returncode, r.stderr))
            os.chown("shared/root.state", 65534, 0)
            r = subprocess.run(nobody + [fluxcap, "run"] + base + ["--state", "shared/root.state",
                                                                   "b.jsonl"],
                               capture_output=True)
            check(r.returncode == 2 and b"belongs to group 0" in r.stderr,
                  "another group's state: %d %r" % (r.returncode, r.stderr))
        # A symbolic link: written through to its target, which stays a link's target.
        os.mkdir("real")
        run(["--state", seeded("real/t.state"), "a.jsonl"])
        os.symlink("real/t.state", "sl.state")
        rc, _, err = run(["--state", "sl.state", "b.jsonl"])
        check(rc == 0 and os.path.islink("sl.state"), "symlink replaced by a file: %r" % err)
        run(["--state", seeded("ref.state"), "a.jsonl"])
        run(["--state", "ref.state", "b.jsonl"])
        check(open("real/t.state", "rb").read() == open("ref.state", "rb").read(),
              "the link's target was not updated")
        rc, _, err = run(["--state", "sl.state", "--incremental", "b.jsonl"])
        check(rc == 0 and glob.glob("real/t.state.delta-*") and not glob.glob("sl.state.*"),
              "checkpoints go beside the target: %r %s" % (err, os.listdir(".")))
        # A dangling link: refused, nothing created.
        os.symlink("nowhere/x.state", "dangling.state")
        rc, out, err = run(["--state", "dangling.state", "b.jsonl"])
        check(rc == 2 and out == b"" and "dangling.state" in err, "dangling link: %d %r" % (rc, err))
        # A FIFO, a device, a directory: refused at once.
        os.mkfifo("fifo.state")
        for path, what in (("fifo.state", "FIFO"), ("/dev/zero", "device"), ("real", "directory")):
            try:
                rc, out, err = run(["--state", path, "b.jsonl"], timeout=10)
                check(rc == 2 and out == b"" and path in err and what in err,
                      "--state %s: %d %r" % (path, rc, err))
            except subprocess.TimeoutExpired:
                check(False, "--state %s hangs" % path)
        os.symlink("fifo.state", "fifolink.state")
        try:
            rc, _, err = run(["--state", "fifolink.state", "b.jsonl"], timeout=10)
            check(rc == 2 and "FIFO" in err, "a link to a FIFO: %d %r" % (rc, err))
        except subprocess.TimeoutExpired:
            check(False, "--state fifolink.state hangs")
        # A FIFO or device where a checkpoint file should be: an error, no hang.
        run(["--state", "f.state", "a.jsonl"])
        run(["--state", "f.state", "--incremental", "b.jsonl"])
        delta = glob.glob("f.state.delta-*")[0]
        os.remove(delta)
        os.mkfifo(delta)
        try:
            rc, _, err = run(["--state", "f.state", "b.jsonl"], timeout=10)
            check(rc == 1 and delta in err and "regular file" in err,
                  "a FIFO checkpoint: %d %r" % (rc, err))
        except subprocess.TimeoutExpired:
            check(False, "a FIFO checkpoint hangs")
        # Names too long for the file system: refused at start, before any output.
        name_max = os.pathconf(".", "PC_NAME_MAX")
        long_name = "x" * (name_max - 5)
        rc, out, err = run(["--state", long_name, "b.jsonl"])
        check(rc == 2 and out == b"" and "too long" in err and str(name_max) in err,
              "a %d-character name: %d %r" % (len(long_name), rc, err))
        check(os.listdir(".").count(long_name) == 0, "the long name was created")
        # Short enough for a full save, too long for a checkpoint's temporary name.
        mid_name = "y" * (name_max - 20)
        rc, _, err = run(["--state", mid_name, "b.jsonl"])
        check(rc == 0, "a %d-character name, full saves: %r" % (len(mid_name), err))
        rc, out, err = run(["--state", mid_name, "--incremental", "b.jsonl"])
        check(rc == 2 and out == b"" and "too long" in err,
              "a %d-character name with --incremental: %d %r" % (len(mid_name), rc, err))

        print("fluxcap --state file tests: %s" % ("FAILED" if failed else "all passed"))
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
