"""What the index on BatchItem.image (retention's lookup of the rows naming a file)
costs a batch job's submit: rows shaped like batch items (3 KB of pixels, a
keyed-hash file name) inserted a chunk per transaction into SQLite, as the web
process does, with and without the index, alternating.

Usage:
    python bench/file_index_cost.py [--rows 40000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import statistics
import tempfile
import time

CHUNK = 128  # BATCH_JOB_CHUNK_SIZE


def insert_seconds(directory: str, indexed: bool, rows: int) -> float:
    path = os.path.join(directory, f"bench-{int(indexed)}.sqlite3")
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, job_id INT, position INT, "
        "image VARCHAR(255), sha CHAR(64), name VARCHAR(255), pixels BLOB, "
        "UNIQUE (job_id, position))"
    )
    if indexed:
        db.execute("CREATE INDEX item_image ON item (image)")
    pixels = os.urandom(3072)
    values = []
    for position in range(rows):
        digest = hashlib.sha256(str(position).encode()).hexdigest()
        values.append(
            (1, position, f"uploads/{digest[:2]}/{digest}.png", "0" * 64, "a.png", pixels)
        )
    start = time.perf_counter()
    for first in range(0, rows, CHUNK):
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO item (job_id, position, image, sha, name, pixels) VALUES (?,?,?,?,?,?)",
            values[first : first + CHUNK],
        )
        db.execute("COMMIT")
    db.close()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    runs: dict[bool, list[float]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(options.repeat):
            for indexed in (False, True):
                runs[indexed].append(insert_seconds(directory, indexed, options.rows))
    for indexed, seconds in runs.items():
        per_row = statistics.median(seconds) / options.rows * 1e6
        label = "with index   " if indexed else "without index"
        print(f"{label} median {statistics.median(seconds):.2f} s, {per_row:.1f} us a row")


if __name__ == "__main__":
    main()
