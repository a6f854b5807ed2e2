"""Generate the tuned lens's training corpus from Jane Austen's novels (docs/lens.md).

Source: the Debian package ``r-cran-janeaustenr`` (the CRAN package ``janeaustenr`` 1.0.0 by
Julia Silge, MIT licence; the novels themselves are in the public domain). It stores each
novel as an R character vector, one element per printed line, in the lazy-load database
``data/Rdata.rdb``. Only the package file is needed, not R::

    apt-get download r-cran-janeaustenr          # or: apt-get install r-cran-janeaustenr
    python scripts/make_lens_corpus.py --deb r-cran-janeaustenr_1.0.0-1_all.deb
    python scripts/make_lens_corpus.py --deb ... --check   # exit 1 if the files differ

Rules: a novel's lines are joined into paragraphs (blank lines separate them, a
paragraph's lines are joined by one space); paragraphs are separated by one newline.
*Persuasion* becomes the training text and *Northanger Abbey* the held-out text, so the
held-out KL is measured on a novel the translators never saw. Written gzip-compressed
(``mtime`` 0, so the bytes are reproducible) into ``src/layertracer/tasks/data/lens/``.
"""

from __future__ import annotations

import argparse
import gzip
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src" / "layertracer" / "tasks" / "data" / "lens"
RDB = "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
FILES = {"PERSUASION": "persuasion.txt.gz", "NORTHANGER ABBEY": "northanger-abbey.txt.gz"}


def blocks(rdb: bytes) -> list[bytes]:
    """The serialized objects of an R lazy-load database: each is a 4-byte big-endian
    length followed by a zlib stream."""
    out, pos = [], 0
    while pos < len(rdb):
        size = struct.unpack(">I", rdb[pos : pos + 4])[0]
        stream = zlib.decompressobj()
        data = stream.decompress(rdb[pos + 4 :])
        assert len(data) == size, "not an R lazy-load database"
        out.append(data)
        pos = len(rdb) - len(stream.unused_data)
    return out


def strings(blob: bytes) -> list[str]:
    """The elements of a serialized (XDR, version 3) R character vector."""
    assert blob[:2] == b"X\n", "not XDR-serialized"
    version, _, _, enc_len = struct.unpack(">IIII", blob[2:18])
    assert version == 3
    pos = 18 + enc_len
    flags, count = struct.unpack(">II", blob[pos : pos + 8])
    assert flags & 0xFF == 16, "not a character vector"  # STRSXP
    pos += 8
    items = []
    for _ in range(count):
        flags, size = struct.unpack(">Ii", blob[pos : pos + 8])
        pos += 8
        if size < 0:  # NA
            items.append("")
            continue
        items.append(blob[pos : pos + size].decode("utf-8"))
        pos += size
    return items


def paragraphs(lines: list[str]) -> str:
    """Lines joined into paragraphs, one per line of the result."""
    paras, current = [], []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paras.append(" ".join(current))
            current = []
    return "\n".join(paras) + "\n"


def novels(deb: Path) -> dict[str, str]:
    """Upper-case title (first line) -> text of every novel in the package file."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        rdb = (Path(tmp) / RDB).read_bytes()
    found = {}
    for blob in blocks(rdb):
        lines = strings(blob)
        title = next(line for line in lines if line.strip()).strip()
        found[title.upper()] = paragraphs(lines)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", type=Path, required=True, help="r-cran-janeaustenr .deb")
    parser.add_argument("--check", action="store_true", help="exit 1 if the files differ")
    args = parser.parse_args()
    texts = novels(args.deb)
    OUT.mkdir(parents=True, exist_ok=True)
    status = 0
    for title, name in FILES.items():
        data = gzip.compress(texts[title].encode("utf-8"), mtime=0)
        path = OUT / name
        if args.check:
            same = path.is_file() and gzip.decompress(path.read_bytes()) == texts[title].encode()
            status |= 0 if same else 1
            print(f"{path.name}: {'ok' if same else 'differs'}")
        else:
            path.write_bytes(data)
            print(f"{path.name}: {len(texts[title])} characters, {len(data)} bytes gzip")
    return status


if __name__ == "__main__":
    sys.exit(main())
