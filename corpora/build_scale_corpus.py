"""Build the scale corpus: 4 GB of real text from pinned Debian packages, and its prefixes.

benchmarks/scale.py trains on 256 MB, 1 GB and 4 GB; the shipped corpora are a few MB and
the benchmark corpus tens of MB. This script takes text that is free to use from Debian's
package archive (the only network it needs): the packages of ``PACKAGES``, exact versions,
each .deb checked against its pinned SHA256.

How the text is laid out, so that the bytes are the same on every run:

1. Packages come in the order of ``PACKAGES`` (the Linux kernel first: the 256 MB and 1 GB
   prefixes are kernel source, the text of the first measurements of issue 12).
2. A package's files are its data tree, read with ``dpkg-deb --fsys-tarfile``, where the
   source archives named in ``Package.archives`` (the kernel's and GCC's ``.tar.xz``,
   OpenJDK's ``src.zip``) stand for their members, and a ``.gz`` file for its contents (up
   to 64 MiB). Other archives are judged as files: test data holds archive bombs. Only
   regular files count (no symlinks), in the order of their paths, sorted by their UTF-8
   bytes (an archive's members sort under the archive's path).
3. A file is kept if it is valid UTF-8 and holds no NUL byte, as it is (no headers, line ends
   untouched); a newline is added if it does not end with one; empty files are left out.
4. The stream stops once it passes 4e9 bytes, and is cut back to its last newline at or
   before 4e9: ``scale-4G.txt``. ``scale-1G.txt`` and ``scale-256M.txt`` are its prefixes,
   cut back to the last newline at or before 1e9 and 256e6 bytes.

    python corpora/build_scale_corpus.py            # corpora/scale/: about a minute, 5.3 GB
    python corpora/build_scale_corpus.py --check    # only check the files against SCALE-SHA256SUMS

The .debs (about 500 MB) stay in ``--cache-dir`` for the next run. Progress goes to stderr.
The build ends by checking every file against ``corpora/SCALE-SHA256SUMS``; sources and
licenses are in corpora/README.md.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT_DIR = HERE / "scale"
SUMS_FILE = HERE / "SCALE-SHA256SUMS"
#: (file name, size limit in bytes): each file is the stream's longest prefix of whole lines
#: within its limit; the largest is written, the others are its prefixes
OUTPUTS = (("scale-256M.txt", 256_000_000), ("scale-1G.txt", 1_000_000_000),
           ("scale-4G.txt", 4_000_000_000))
#: a .gz file whose contents would pass this is left out (test data holds gzip bombs)
MAX_GUNZIP = 64 * 2**20
MB = 1_000_000


@dataclass(frozen=True)
class Package:
    """A pinned Debian package: what apt-get downloads, and what it is."""

    name: str
    version: str
    sha256: str  # of the .deb
    license: str
    content: str
    #: the archives in the package that stand for their members (the source tarballs);
    #: any other archive is judged as a file (test data holds archive bombs)
    archives: tuple[str, ...] = ()


#: The sources, in the order of the stream. All from Debian 12 (bookworm) main.
PACKAGES = (
    Package("linux-source-6.1", "6.1.176-1",
            "9305d1a151b8e83dcb88aa11361e7b9513f0c252bdf7f5647e4542762d99c094",
            "GPL-2.0-only (some files dual-licensed)", "Linux 6.1 kernel source tree",
            ("usr/src/linux-source-6.1.tar.xz",)),
    Package("gcc-12-source", "12.2.0-14+deb12u1",
            "8f2a5411028dfe216aeb6346b926df0cc7471f375c6a375bf180fbf279af02a1",
            "GPL-3.0-or-later with the GCC Runtime Library Exception; manuals GFDL-1.3",
            "GCC 12.2 source tree and Debian's patches",
            ("usr/src/gcc-12/gcc-12.2.0-dfsg.tar.xz",)),
    Package("openjdk-17-source", "17.0.19+10-1~deb12u2",
            "2591b37131025f872f057be99467b45f7fa2aed928c8d779208db9c3239e1190",
            "GPL-2.0-only with the Classpath Exception", "OpenJDK 17 class library source",
            ("usr/lib/jvm/openjdk-17/lib/src.zip",)),
    Package("golang-1.19-src", "1.19.8-2",
            "2dfa82fe4f08f4e0193c532e561af4c91871f5235608f04f2bb8d57bb288df5a",
            "BSD-3-Clause", "Go 1.19 standard library, tools and tests"),
    Package("rust-web-src", "1.85.0+dfsg3-1~deb12u3",
            "48849a40ac3490b6ed45b0813c6c92d4c689448b0c4251997f56399b8f899d0d",
            "MIT OR Apache-2.0 (vendored parts: their own permissive licenses)",
            "Rust 1.85 compiler and library source"),
    Package("lazarus-src-2.2", "2.2.6+dfsg2-2",
            "eb367a87536ad7d3856b7ca6b5c644e0b8a9e91377c82245a40d56e36038000b",
            "GPL-2.0-or-later and LGPL-2.0-or-later with a static-linking exception; some "
            "files MPL-1.1, BSD, Expat",
            "Lazarus 2.2 LCL and components source (Pascal)"),
    Package("python3.11-doc", "3.11.2-6+deb12u8",
            "50eb63e7f636c4281e9ce1b8f10386f1def42159eddce34fc1f41c46261df71b",
            "PSF-2.0", "Python 3.11 documentation (HTML, info)"),
    Package("erlang-doc", "1:25.2.3+dfsg-1+deb12u4",
            "7d172cecfdd9c2930b27c776ad226ffcc84670375cf830c79ee41c6944e8a1c8",
            "Apache-2.0 (a few parts MIT, BSD, Zlib)", "Erlang/OTP 25 documentation (HTML)"),
    Package("rust-web-doc", "1.85.0+dfsg3-1~deb12u3",
            "ae4192337b72aff79a7916a06a57d71427dc9bc4e8d6c1b4bf544f34762f1973",
            "MIT OR Apache-2.0", "Rust 1.85 books and API documentation (HTML)"),
    Package("openjdk-17-doc", "17.0.19+10-1~deb12u2",
            "e94dbb2d3663db00888536aba970489ebec932058eba02f038587cbc805e0007",
            "GPL-2.0-only with the Classpath Exception", "OpenJDK 17 API documentation (HTML)"),
    Package("ghc-doc", "9.0.2-4",
            "a7c77e36c8906f82eef411ceeba13b7d663b7766a5ecc6659e3405889e0429c9",
            "BSD-3-Clause (the Glasgow Haskell Compiler License)",
            "GHC 9.0 user's guide and library documentation (HTML)"),
    Package("libstdc++-12-doc", "12.2.0-14+deb12u1",
            "cdfc497c07975678b6145df159bf62587023fcec9d603db06c75547328887dbd",
            "GPL-3.0-or-later with the GCC Runtime Library Exception; manual GFDL-1.3",
            "libstdc++ 12 manual and API documentation (HTML)"),
    Package("linux-doc-6.1", "6.1.176-1",
            "0d843674607703b9ef8c1db5e715c38ed52ff23574feabfe0d961d552126859f",
            "GPL-2.0-only", "Linux 6.1 kernel documentation (HTML)"),
)


# -- downloading -----------------------------------------------------------------

class BuildError(SystemExit):
    """A stop with one message, for a run that cannot go on."""


def deb_path(cache_dir: Path, pkg: Package) -> Path | None:
    """The .deb of that version in the cache (apt-get download's name: the epoch's colon
    written %3a), or None.

    >>> deb_path(Path("/nowhere"), PACKAGES[0]) is None
    True
    """
    found = sorted(cache_dir.glob(f"{pkg.name}_{pkg.version.replace(':', '%3a')}_*.deb"))
    return found[0] if found else None


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def available_versions(name: str) -> list[str]:
    """The versions of a package the configured archive serves (apt-cache madison)."""
    proc = subprocess.run(["apt-cache", "madison", name], capture_output=True, text=True)
    return sorted({line.split("|")[1].strip() for line in proc.stdout.splitlines()
                   if line.count("|") >= 2})


def fetch(pkg: Package, cache_dir: Path, any_version: bool) -> tuple[Path, str]:
    """The package's .deb in the cache, downloaded with apt-get when missing, and the
    version it is. A pinned version the archive no longer serves, or a .deb whose SHA256 is
    not the pinned one, stops the build unless ``any_version``."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = deb_path(cache_dir, pkg)
    version = pkg.version
    if path is None:
        served = available_versions(pkg.name)
        if pkg.version not in served:
            message = (f"the package archive does not serve {pkg.name} {pkg.version}, the "
                       f"pinned version (it has: {', '.join(served) or 'none'}). Put that .deb "
                       f"in {cache_dir} (snapshot.debian.org keeps every version), or run "
                       f"with --any-version to use the archive's candidate: the text will "
                       f"differ from the recorded build.")
            if not any_version or not served:
                raise BuildError(message)
            log(f"warning: {message}")
            version = None
        wanted = pkg.name if version is None else f"{pkg.name}={version}"
        log(f"downloading {wanted} ...")
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            proc = subprocess.run(["apt-get", "download", wanted], cwd=tmp,
                                  capture_output=True, text=True)
            debs = sorted(Path(tmp).glob("*.deb"))
            if proc.returncode != 0 or len(debs) != 1:
                raise BuildError(f"apt-get download {wanted} failed: "
                                 f"{_last_line(proc.stderr)} (run apt-get update first?)")
            path = cache_dir / debs[0].name
            os.replace(debs[0], path)  # complete .debs only in the cache
        version = deb_version(path)
    digest = sha256_file(path)
    if version == pkg.version and digest != pkg.sha256:
        message = (f"{path.name} has SHA256 {digest}, not the pinned {pkg.sha256}: the mirror "
                   f"serves other bytes under the same version")
        if not any_version:
            raise BuildError(message + " (delete the file to download it again, or use "
                                       "--any-version)")
        log(f"warning: {message}")
    return path, version


def deb_version(path: Path) -> str:
    """The version a .deb says it is."""
    proc = subprocess.run(["dpkg-deb", "-f", str(path), "Version"], capture_output=True,
                          text=True, check=True)
    return proc.stdout.strip()


# -- reading a package's text ----------------------------------------------------

@dataclass
class Stats:
    """What a package gave: files kept as text, files left out, bytes kept."""

    kept: int = 0
    left_out: int = 0
    bytes: int = 0
    left_out_examples: list[str] = field(default_factory=list)


def is_text(data: bytes) -> bool:
    """Valid UTF-8 without NUL bytes, and not empty.

    >>> is_text("größe\\n".encode()), is_text(b"a\\0b"), is_text(b"\\xff"), is_text(b"")
    (True, False, False, False)
    """
    if not data or b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def as_text(data: bytes) -> bytes:
    """The file as it goes into the stream: ending with a newline.

    >>> as_text(b"a\\nb"), as_text(b"a\\n")
    (b'a\\nb\\n', b'a\\n')
    """
    return data if data.endswith(b"\n") else data + b"\n"


def sort_key(path: str) -> bytes:
    """Paths sort by their UTF-8 bytes (undecodable names as their original bytes)."""
    return path.encode("utf-8", "surrogateescape")


class Spool:
    """Text files in the order they are read, on disk, handed back sorted by path."""

    def __init__(self, folder: Path):
        self.file = tempfile.TemporaryFile(dir=folder)
        self.index: list[tuple[bytes, int, int]] = []

    def add(self, path: str, data: bytes) -> None:
        offset = self.file.tell()
        self.file.write(data)
        self.index.append((sort_key(path), offset, len(data)))

    def in_order(self):
        """(path, bytes) of every file, sorted by path (ties: the order they came in)."""
        self.file.flush()
        for key, offset, size in sorted(self.index):
            self.file.seek(offset)
            yield key.decode("utf-8", "surrogateescape"), self.file.read(size)

    def close(self) -> None:
        self.file.close()


def take(path: str, data: bytes, spool: Spool, stats: Stats) -> None:
    """Spool one file if it is text (a ``.gz`` file: its contents), else count it left out."""
    if path.endswith(".gz"):
        data, path = gunzip(data), path[:-3]
    if is_text(data):
        spool.add(path, as_text(data))
        stats.kept += 1
        stats.bytes += len(as_text(data))
    else:
        stats.left_out += 1
        if len(stats.left_out_examples) < 3:
            stats.left_out_examples.append(path)


def gunzip(data: bytes, limit: int = MAX_GUNZIP) -> bytes:
    """The contents of gzip data, or b"" (left out) if it is not gzip or holds more than
    ``limit`` bytes.

    >>> gunzip(gzip.compress(b"text")), gunzip(b"text"), gunzip(gzip.compress(b"12345"), 4)
    (b'text', b'', b'')
    """
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
            out = f.read(limit + 1)
    except (OSError, EOFError, ValueError, zlib.error):
        return b""
    return out if len(out) <= limit else b""


def take_archive(path: str, fileobj, spool: Spool, stats: Stats) -> None:
    """Spool the text members of an archive found in a package, under ``path/``."""
    if path.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(fileobj.read())) as z:
            for info in z.infolist():
                if not info.is_dir():
                    take(f"{path}/{info.filename}", z.read(info), spool, stats)
        return
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            if member.isreg():
                take(f"{path}/{member.name.removeprefix('./')}", tar.extractfile(member).read(),
                     spool, stats)


def read_package(deb: Path, spool: Spool, archives: tuple[str, ...] = ()) -> Stats:
    """Spool every text file of a .deb's data tree, the ``archives`` opened (see the
    module's doc)."""
    stats = Stats()
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                if not member.isreg():
                    continue
                path = member.name.removeprefix("./")
                fileobj = tar.extractfile(member)
                if path in archives:
                    take_archive(path, fileobj, spool, stats)
                else:
                    take(path, fileobj.read(), spool, stats)
    finally:
        proc.stdout.close()
        if proc.wait() != 0:
            raise BuildError(f"dpkg-deb --fsys-tarfile {deb} failed (status {proc.returncode})")
    return stats


# -- the stream and its prefixes -------------------------------------------------

def cut_point(f, limit: int, block: int = 1 << 20) -> int:
    """Length of the longest prefix of the open binary file ``f`` that ends with a newline
    (or is all of the file) and holds at most ``limit`` bytes; 0 if there is none.

    >>> cut_point(io.BytesIO(b"ab\\ncd\\nef"), 7), cut_point(io.BytesIO(b"ab\\ncd\\n"), 5)
    (6, 3)
    >>> cut_point(io.BytesIO(b"ab\\ncd"), 9), cut_point(io.BytesIO(b"abcdef\\n"), 4, block=2)
    (5, 0)
    """
    size = f.seek(0, os.SEEK_END)
    if size <= limit:
        return size
    end = limit
    while end > 0:
        start = max(0, end - block)
        f.seek(start)
        i = f.read(end - start).rfind(b"\n")
        if i >= 0:
            return start + i + 1
        end = start
    return 0


def copy_prefix(src: Path, dst: Path, length: int) -> None:
    """Write the first ``length`` bytes of ``src`` to ``dst``, atomically."""
    tmp = dst.with_name(dst.name + ".tmp")
    with open(src, "rb") as fin, open(tmp, "wb") as fout:
        left = length
        while left:
            block = fin.read(min(left, 1 << 22))
            if not block:
                raise BuildError(f"{src} is shorter than {length} bytes")
            fout.write(block)
            left -= len(block)
    os.replace(tmp, dst)


def build(out_dir: Path, cache_dir: Path, any_version: bool) -> list[dict]:
    """Write the stream to the largest output, then the smaller ones as its prefixes;
    return what each package gave (dicts for the log and corpora/README.md)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (largest, limit) = OUTPUTS[-1]
    tmp = out_dir / (largest + ".tmp")
    sources, t0 = [], time.perf_counter()
    try:
        total = write_stream(tmp, limit, cache_dir, any_version, sources, t0)
    except BaseException:
        tmp.unlink(missing_ok=True)  # no half-written corpus left behind
        raise
    if total < limit:
        tmp.unlink()
        raise BuildError(f"the packages give {total:,} bytes of text, less than {limit:,}")
    with open(tmp, "r+b") as f:
        f.truncate(cut_point(f, limit))
    os.replace(tmp, out_dir / largest)
    with open(out_dir / largest, "rb") as f:
        cuts = {name: cut_point(f, size) for name, size in OUTPUTS}
    for name, _ in OUTPUTS[:-1]:
        log(f"writing {name} ({cuts[name]:,} bytes) ...")
        copy_prefix(out_dir / largest, out_dir / name, cuts[name])
    log(f"wrote {out_dir} in {time.perf_counter() - t0:.0f} s")
    return sources


def write_stream(path: Path, limit: int, cache_dir: Path, any_version: bool,
                 sources: list[dict], t0: float) -> int:
    """Write the packages' text to ``path`` until it holds at least ``limit`` bytes (or
    the packages run out); append what each gave to ``sources``; return the bytes written."""
    total = 0
    with open(path, "wb") as out:
        for pkg in PACKAGES:
            if total >= limit:
                break
            deb, version = fetch(pkg, cache_dir, any_version)
            log(f"reading {deb.name} ...")
            spool = Spool(path.parent)
            try:
                stats = read_package(deb, spool, pkg.archives)
                start, written = total, 0
                for _, data in spool.in_order():
                    out.write(data)
                    total += len(data)
                    written += 1
                    if total >= limit:
                        break
            finally:
                spool.close()
            sources.append({"package": pkg.name, "version": version, "start": start,
                            "bytes": total - start, "files": written,
                            "text_bytes": stats.bytes, "left_out": stats.left_out})
            examples = f": e.g. {', '.join(stats.left_out_examples)}" if stats.left_out else ""
            log(f"  {stats.kept} text files, {stats.bytes / MB:.1f} MB ({written} files used); "
                f"{stats.left_out} left out (not UTF-8, NUL bytes or empty{examples}); stream at "
                f"{total / MB:.0f} MB, {time.perf_counter() - t0:.0f} s")
    return total


# -- checksums -------------------------------------------------------------------

def read_sums(path: Path = SUMS_FILE) -> dict[str, str]:
    """{file name: SHA256} from a sha256sum-style file (paths relative to corpora/)."""
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            digest, name = line.split(maxsplit=1)
            sums[Path(name.lstrip("*")).name] = digest
    return sums


def check(out_dir: Path, sums: dict[str, str]) -> bool:
    """Compare every output with its recorded SHA256; print the result; True if all match."""
    ok = True
    for name, _ in OUTPUTS:
        path = out_dir / name
        if not path.is_file():
            log(f"{path}: missing")
            ok = False
            continue
        digest = sha256_file(path)
        print(f"{digest}  {path}")
        if name not in sums:
            log(f"{name}: no SHA256 recorded in {SUMS_FILE.name}")
            ok = False
        elif digest != sums[name]:
            log(f"{name}: differs from the recorded build ({sums[name][:12]}...): were other "
                f"package versions used (--any-version), or were the files changed?")
            ok = False
        else:
            log(f"{name}: {path.stat().st_size:,} bytes, same as the recorded build")
    return ok


def record(out_dir: Path) -> None:
    """Write SCALE-SHA256SUMS from the files of ``out_dir`` (after a build at the pins)."""
    lines = [f"{sha256_file(out_dir / name)}  scale/{name}" for name, _ in OUTPUTS]
    SUMS_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"wrote {SUMS_FILE}")


# -- main ------------------------------------------------------------------------

def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                   help="where the corpus files go (default: corpora/scale/)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where the .debs are downloaded and kept (default: OUT_DIR/debs)")
    p.add_argument("--check", action="store_true",
                   help="only check the files in OUT_DIR against corpora/SCALE-SHA256SUMS")
    p.add_argument("--any-version", action="store_true",
                   help="use the versions the archive serves when the pinned ones are gone "
                        "(the text, and so the checksums, will differ)")
    p.add_argument("--record", action="store_true",
                   help="after building, write corpora/SCALE-SHA256SUMS from the new files "
                        "(for a maintainer changing the pins)")
    args = p.parse_args(argv)
    cache_dir = args.cache_dir or args.out_dir / "debs"
    if not args.check:
        started = time.perf_counter()
        sources = build(args.out_dir, cache_dir, args.any_version)
        for s in sources:
            log(f"  {s['package']} {s['version']}: bytes {s['start']:,}-"
                f"{s['start'] + s['bytes']:,} of the stream, {s['files']} files")
        log(f"build took {time.perf_counter() - started:.0f} s")
        if args.record:
            record(args.out_dir)
    if not check(args.out_dir, read_sums()):
        sys.exit(1)


if __name__ == "__main__":
    main()
