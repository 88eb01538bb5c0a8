#!/usr/bin/env python3
"""Which B-trees the frames of a SQLite WAL file belong to.

    python3 tools/wal_frames.py DB WAL [MESSAGES]

DB and WAL: copies of a database file and of its write-ahead log, taken while chatd still runs
(SQLite checkpoints and removes the WAL when the last connection closes). Run chatd with
`database.sqlite_wal_autocheckpoint = 0` so that the WAL holds every frame written since the
start. Prints the frames, the commits (frames that end a transaction) and, per table or index,
its frames in all, per commit and (given MESSAGES, the sends of the run) per message. Pages are
attributed with the `dbstat` virtual table of the sqlite3 command-line shell, which it runs on a
scratch copy of both files (opening them checkpoints the WAL into the database).
"""
import collections
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def owners(db, wal):
    with tempfile.TemporaryDirectory() as scratch:
        copy = os.path.join(scratch, "chat.db")
        shutil.copy(db, copy)
        shutil.copy(wal, copy + "-wal")
        out = subprocess.run(
            ["sqlite3", copy, "SELECT pageno, name FROM dbstat"],
            capture_output=True, text=True, check=True,
        ).stdout
    return {int(p): n for p, n in (line.split("|", 1) for line in out.splitlines())}


def main():
    db, wal = sys.argv[1], sys.argv[2]
    messages = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    owner = owners(db, wal)
    with open(wal, "rb") as f:
        header = f.read(32)
        _, _, page_size, _, salt1, salt2, _, _ = struct.unpack(">8I", header)
        frames = commits = 0
        per_tree = collections.Counter()
        while True:
            frame = f.read(24 + page_size)
            if len(frame) < 24 + page_size:
                break
            page, commit, s1, s2 = struct.unpack(">4I", frame[:16])
            if (s1, s2) != (salt1, salt2):
                break  # frames of an earlier generation of the WAL
            frames += 1
            commits += commit != 0
            per_tree[owner.get(page, "(free or overflow page)")] += 1
    per_commit = max(commits, 1)
    line = f"page size {page_size}, {frames} frames, {commits} commits, {frames / per_commit:.1f} a commit"
    if messages:
        line += f", {frames / messages:.2f} a message ({messages} messages)"
    print(line)
    for name, n in per_tree.most_common(20):
        each = f"{n / messages:6.2f}/message" if messages else ""
        print(f"{n:9d} {n / per_commit:7.1f}/commit {each}  {name}")


if __name__ == "__main__":
    main()
