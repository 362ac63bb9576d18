"""The pure parts of the scale benchmark and of its corpus builder: options, corpus files,
measuring with limits (on tiny commands), the table and its notes; reading a .deb and
cutting the stream into prefixes. No training and no network here."""

from __future__ import annotations

import dataclasses
import doctest
import gzip
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import CORPORA, ROOT, import_scripts

BENCHMARKS = ROOT / "benchmarks"
MODULES = ("scale", "train", "encode", "_peers", "_report")


@pytest.fixture(scope="module")
def bench():
    """The benchmark scripts as modules."""
    yield from import_scripts(BENCHMARKS, MODULES)


@pytest.fixture(scope="module")
def builder():
    yield from (modules["build_scale_corpus"] for modules in import_scripts(CORPORA, ["build_scale_corpus"]))


def test_docstring_examples(bench, builder):
    for module, least in ((bench["scale"], 6), (builder, 5)):
        failures, tried = doctest.testmod(module)
        assert tried >= least and failures == 0


# -- options ---------------------------------------------------------------------

def test_default_and_quick_options(bench):
    scale = bench["scale"]
    args = scale.parse_args(["--sizes", "4G,256m,1G", "--memory-limit", "16G"])
    assert args.sizes == [("256M", 256 * 10**6), ("1G", 10**9), ("4G", 4 * 10**9)]
    assert (args.vocab_size, args.max_memory, args.timeout) == (32000, "1G", 3600)
    assert args.memory_limit == 16 * 2**30 and args.reference_max == 256 * 10**6
    assert args.output == scale.RESULTS
    quick = scale.parse_args(["--quick", "--skip", "sp-unigram,reference"])
    assert quick.sizes == [("4M", 4 * 10**6)] and quick.vocab_size == 8000
    assert quick.max_memory == "64M" and quick.output == scale.QUICK_RESULTS
    assert quick.skip == {"sp-unigram", "reference"}


@pytest.mark.parametrize("argv", [["--skip", "bytepiece"], ["--sizes", "12"],
                                  ["--memory-limit", "lots"], ["--timeout", "0"]])
def test_bad_options_stop_with_a_usage_error(bench, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        bench["scale"].parse_args(argv)
    assert stop.value.code == 2


# -- corpus files ----------------------------------------------------------------

def test_built_files_are_used_and_other_sizes_cut_at_whole_lines(bench, tmp_path):
    scale = bench["scale"]
    corpus_dir, work = tmp_path / "scale", tmp_path / "work"
    corpus_dir.mkdir()
    work.mkdir()
    lines = b"".join(f"line {i:03d}\n".encode() for i in range(300))  # 9 bytes each
    (corpus_dir / "scale-2K.txt").write_bytes(lines)
    (corpus_dir / "scale-1K.txt").write_bytes(lines[:999])
    files = scale.corpus_files([("1K", 1000), ("0.5K", 500)], corpus_dir, work)
    assert files["1K"] == corpus_dir / "scale-1K.txt"  # built: used as it is
    assert files["0.5K"] == work / "scale-0.5K.txt"  # cut from the largest
    assert files["0.5K"].read_bytes() == lines[:495]  # 55 whole lines
    with pytest.raises(SystemExit, match="less than"):
        scale.corpus_files([("1M", 10**6)], corpus_dir, work)
    with pytest.raises(SystemExit, match="build_scale_corpus"):
        scale.corpus_files([("1M", 10**6)], tmp_path / "empty", work)


def test_quick_source_is_a_prefix_of_the_shipped_corpora(bench, tmp_path):
    source = bench["scale"].quick_source(tmp_path, 100_000)
    data = source.read_bytes()
    first = sorted(CORPORA.glob("*.txt"))[0].read_bytes()
    assert 99_000 < len(data) <= 100_000 and data.endswith(b"\n")
    assert first.startswith(data)


# -- measuring with limits -------------------------------------------------------

def measure(bench, tmp_path, code, **limits):
    options = dict(interval=0.02, timeout=10, memory_limit=2**40, disk_interval=0.02)
    options.update(limits)
    return bench["scale"].run_limited([sys.executable, "-c", code], {}, tmp_path, **options)


def test_a_command_over_time_is_killed(bench, tmp_path):
    run = measure(bench, tmp_path, "import time; time.sleep(30)", timeout=0.5)
    assert run.killed == "timeout" and run.returncode < 0 and run.wall < 5


def test_a_command_over_memory_is_killed(bench, tmp_path):
    code = "import time; x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096]); " \
           "time.sleep(30)"
    run = measure(bench, tmp_path, code, memory_limit=100 * 2**20)
    assert run.killed == "memory" and run.peak_rss > 100 * 2**20 and run.wall < 10


def test_the_peak_of_a_folder_is_sampled(bench, tmp_path):
    watch = tmp_path / "tmp"
    watch.mkdir()
    code = (f"import os, time; p = {str(watch / 'run.bin')!r}; "
            f"open(p, 'wb').write(os.urandom(2**20)); time.sleep(0.4); os.remove(p); "
            f"import sys; sys.stderr.write('done\\n')")
    run = measure(bench, tmp_path, code, watch=watch)
    assert run.killed is None and run.returncode == 0 and run.stderr == "done\n"
    assert run.peak_disk >= 2**20 and run.left_disk == 0


# -- the table -------------------------------------------------------------------

def figures(label, wall, rss, tmp=None, nbytes=4 * 10**6, **more):
    return {"label": label, "wall_seconds": wall, "peak_rss_mb": rss, "tmp_peak_mb": tmp,
            "tmp_left_mb": 0.0 if tmp is not None else None, "bytes": nbytes,
            "summary": "trained on 4.0 MB in 2s; peak memory 200 MB", "last_stderr": "x",
            **more}


def test_the_table_shows_every_trainer_with_or_without_figures(bench):
    scale, Missing = bench["scale"], bench["_peers"].Missing
    runs = {"4M": {
        "bytepiece": figures("bytepiece (default)", 2.0, 250.0, tmp=0.0),
        "bytepiece-limited": figures("bytepiece --max-memory 64M", 2.5, 200.0, tmp=22.4,
                                     identical=True),
        "hf-bpe": figures("tokenizers byte-level BPE", 1.0, 40.0),
        "sp-bpe": Missing("failed (status 1): RuntimeError: bad | thing",
                          "failed: " + scale._short("RuntimeError: bad | thing")),
        "sp-unigram": figures("SentencePiece unigram", 8.0, 900.0, killed="timeout", limit=8),
        "reference": figures("BytePiece 0.6.3", 30.0, 600.0, identical=False),
    }, "1G": {
        "bytepiece": figures("bytepiece (default)", 300.0, 9000.0, tmp=5.0, nbytes=10**9,
                             killed="memory", limit=8 * 2**30),
        "bytepiece-limited": Missing("left out with --skip bytepiece-limited", "skipped"),
    }}
    rows = scale.results_table(runs)
    assert rows[0] == ("| corpus size | system | wall s | peak RSS MiB | tmp disk MiB | MB/s | "
                       "time vs bytepiece (default) | identical models |")
    assert rows[2:] == [
        "| 4M | bytepiece (default) | 2.0 | 250 | 0 | 2.00 | 1.00x | – |",
        "| 4M | bytepiece --max-memory 64M | 2.5 | 200 | 22 | 1.60 | 1.25x | yes |",
        "| 4M | tokenizers byte-level BPE | 1.0 | 40 | – | 4.00 | 0.50x | – |",
        "| 4M | SentencePiece BPE | failed: RuntimeError: bad / thing | – | – | – | – | – |",
        "| 4M | SentencePiece unigram | over 8 s | 900 | – | < 0.50 | > 4.0x | – |",
        "| 4M | BytePiece 0.6.3 | 30.0 | 600 | – | 0.13 | 15.00x | "
        "same pieces and counts: no |",
        "| 1G | bytepiece (default) | over 8.0 GiB RSS | 9000 | 5 | – | – | – |",
        "| 1G | bytepiece --max-memory | skipped | – | – | – | – | – |",
    ]
    notes = scale.notes(runs)
    assert "- 4M, bytepiece (default): `trained on 4.0 MB in 2s; peak memory 200 MB`" in notes
    assert "- 4M, SentencePiece BPE: failed (status 1): RuntimeError: bad | thing" in notes
    assert "- 4M, SentencePiece unigram: killed, over 8 s; its last line on stderr: x" in notes
    assert ("- 1G, bytepiece --max-memory: skipped: left out with --skip bytepiece-limited"
            in notes)


def test_models_are_compared_with_bytepiece_default(bench, tmp_path):
    scale = bench["scale"]

    def model(name, pieces):
        path = tmp_path / name
        path.write_text(json.dumps({p: [i, p, c] for i, (p, c) in enumerate(pieces.items())}))
        return str(path)

    base = model("a.json", {"ab": 5, "c": 3})
    results = {"bytepiece": {"model": base},
               "bytepiece-limited": {"model": model("b.json", {"ab": 5, "c": 3})},
               "reference": {"model": model("r.json", {"ab": 5, "c": 4})}}
    scale.compare(results)
    assert results["bytepiece-limited"]["identical"] is True
    assert results["reference"]["identical"] is False
    results = {"bytepiece": {"model": base, "killed": "timeout"},
               "bytepiece-limited": {"model": base}}
    scale.compare(results)  # no model to compare with
    assert "identical" not in results["bytepiece-limited"]


# -- the corpus builder ----------------------------------------------------------

def make_deb(folder: Path, name: str, files: dict[str, bytes]) -> Path:
    """A .deb holding ``files`` (paths under its root), built with dpkg-deb."""
    root = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN" / "control").write_text(
        f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@t>\n"
        f"Description: test\n")
    (root / "usr" / "link.txt").symlink_to("b.txt")
    deb = folder / f"{name}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def deb(tmp_path):
    if not shutil.which("dpkg-deb"):
        pytest.skip("needs dpkg-deb")
    return make_deb(tmp_path, "fake", {
        "usr/b.txt": "b ünïcode".encode(),  # no final newline: one is added
        "usr/a.txt": b"a\r\n",
        "usr/src/src.tar.gz": tar_gz({"pkg/z.c": b"int z;\n", "pkg/m.c": b"int m;\n",
                                      "pkg/bin.o": b"\x7fELF\0\0"}),
        "usr/test/data.zip": zip_bytes({"t.txt": b"inside\n"}),  # not named: judged as a file
        "usr/doc/changelog.gz": gzip.compress(b"changes\n"),
        "usr/latin1.txt": b"caf\xe9\n",
        "usr/empty.txt": b"",
    })


def test_a_package_is_read_in_path_order_with_its_named_archives_opened(builder, deb,
                                                                        tmp_path):
    spool = builder.Spool(tmp_path)
    stats = builder.read_package(deb, spool, ("usr/src/src.tar.gz",))
    files = dict(spool.in_order())
    spool.close()
    assert list(files) == ["usr/a.txt", "usr/b.txt", "usr/doc/changelog",
                           "usr/src/src.tar.gz/pkg/m.c", "usr/src/src.tar.gz/pkg/z.c"]
    assert files["usr/b.txt"] == "b ünïcode\n".encode() and files["usr/a.txt"] == b"a\r\n"
    assert files["usr/doc/changelog"] == b"changes\n"
    assert (stats.kept, stats.left_out) == (5, 4)  # bin.o, data.zip, latin1.txt, empty.txt


def test_the_build_writes_prefixes_at_whole_lines_and_checks_them(builder, deb, tmp_path,
                                                                  monkeypatch):
    cache = deb.parent
    second = make_deb(tmp_path / "second", "other", {"usr/y.txt": b"yy\n", "usr/z.txt": b"z"})
    shutil.move(second, cache)
    pinned = [builder.Package(name, "1.0-1",
                              hashlib.sha256((cache / f"{name}_1.0-1_all.deb").read_bytes())
                              .hexdigest(), "CC0", "test", archives)
              for name, archives in (("fake", ("usr/src/src.tar.gz",)), ("other", ()))]
    monkeypatch.setattr(builder, "PACKAGES", tuple(pinned))
    monkeypatch.setattr(builder, "OUTPUTS", (("s-10.txt", 10), ("s-39.txt", 39)))
    out = tmp_path / "out"
    sources = builder.build(out, cache, any_version=False)
    # the stream stops with the file that reaches 39 bytes (y.txt, at 40), cut back to 37
    stream = "a\r\nb ünïcode\nchanges\nint m;\nint z;\nyy\n".encode()
    assert len(stream) == 40
    assert (out / "s-39.txt").read_bytes() == stream[:37]
    assert (out / "s-10.txt").read_bytes() == stream[:3]
    assert sources == [{"package": "fake", "version": "1.0-1", "start": 0, "bytes": 37,
                        "files": 5, "text_bytes": 37, "left_out": 4},
                       {"package": "other", "version": "1.0-1", "start": 37, "bytes": 3,
                        "files": 1, "text_bytes": 5, "left_out": 0}]
    sums = {name: hashlib.sha256((out / name).read_bytes()).hexdigest()
            for name in ("s-10.txt", "s-39.txt")}
    assert builder.check(out, sums)
    assert not builder.check(out, dict(sums, **{"s-10.txt": "0" * 64}))

    monkeypatch.setattr(builder, "PACKAGES", (dataclasses.replace(pinned[0], sha256="0" * 64),))
    with pytest.raises(SystemExit, match="not the pinned"):
        builder.build(out, cache, any_version=False)
    assert sorted(p.name for p in out.iterdir()) == ["s-10.txt", "s-39.txt"]  # no .tmp left


def test_recorded_sums_are_read_by_file_name(builder, tmp_path):
    sums = tmp_path / "SUMS"
    sums.write_text("# comment\n" + "ab" * 32 + "  scale/scale-1G.txt\n")
    assert builder.read_sums(sums) == {"scale-1G.txt": "ab" * 32}
    assert builder.read_sums(tmp_path / "none") == {}
