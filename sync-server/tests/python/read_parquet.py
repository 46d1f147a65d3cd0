"""Reads an Inkset Parquet export with two stock readers and prints what each saw.

Usage: read_parquet.py FILE

Prints one JSON object: {"pyarrow": rows, "duckdb": rows}, where rows are sorted by id and
each row is {"id", "word", "key_id", "strokes": [[x...], [y...], [t...] or null]}. The
Rust test compares both with the Quick, Draw! raw export of the same release.
"""

import json
import sys

import duckdb
import pyarrow.parquet as pq


def from_pyarrow(path):
    table = pq.read_table(path)
    rows = []
    for r in table.to_pylist():
        rows.append({
            "id": r["id"],
            "word": r["word"],
            "key_id": r["key_id"],
            "strokes": [[s["x"], s["y"], s["t"]] for s in r["strokes"]],
        })
    return sorted(rows, key=lambda r: r["id"])


def from_duckdb(path):
    con = duckdb.connect()
    cur = con.execute(
        "SELECT id, word, key_id, strokes FROM read_parquet(?) ORDER BY id", [path]
    )
    rows = []
    for id_, word, key_id, strokes in cur.fetchall():
        rows.append({
            "id": id_,
            "word": word,
            "key_id": key_id,
            "strokes": [[s["x"], s["y"], s["t"]] for s in strokes],
        })
    return rows


def main():
    path = sys.argv[1]
    json.dump({"pyarrow": from_pyarrow(path), "duckdb": from_duckdb(path)}, sys.stdout)


if __name__ == "__main__":
    main()
