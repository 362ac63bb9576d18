"""The pure parts of the cluster benchmark: options, the quick corpus, reading bytepiece's
summary, the table, the targets and the projection's arithmetic; and the process handling
on tiny commands. No cluster is started here."""

from __future__ import annotations

import doctest
import math
import os
import sys
import time
from pathlib import Path

import pytest

from conftest import CORPORA, ROOT, import_scripts

BENCHMARKS = ROOT / "benchmarks"
MODULES = ("cluster", "scale", "train", "encode", "_peers", "_report")
MB, MiB, GB = 10**6, 2**20, 10**9

CLUSTER_SUMMARY = """\
Count Ngrams: 100%|##########| 8.70M/8.70M [00:01<00:00]
2026-12-07 05:34:31,658 WARNING worker.py:1 -- something from Ray
trained on 8.7 MB in 5.3s (count ngrams 0.9s, merge ngrams 0.3s, build lm 0.0s, \
count pieces 2.3s, merge pieces 0.3s, prune pieces 1.1s)
on the cluster: 4 shards, 2 parts per merge, 40 tasks; 12 MB passed between tasks, \
2.7 MB shared with every worker (the n-gram model 2.1 MB); peak memory here 183 MB
m.json: vocabulary of 32000 (3 special tokens and 31997 pieces), 4.1 bytes/token on \
the training text
(compression measured in 0.7s)
"""


@pytest.fixture(scope="module")
def bench():
    """The benchmark scripts as modules."""
    yield from import_scripts(BENCHMARKS, MODULES)


@pytest.fixture(scope="module")
def cluster(bench):
    return bench["cluster"]


def test_docstring_examples(cluster):
    failures, tried = doctest.testmod(cluster)
    assert tried >= 12 and failures == 0


# -- options ---------------------------------------------------------------------

def test_default_and_quick_options(cluster):
    args = cluster.parse_args([])
    assert (args.size, args.corpus, args.vocab_size, args.workers) == ("1G", None, 32000, 2)
    assert args.project_size_bytes == 100 * GB and args.project_workers == [32, 128]
    assert (args.bandwidth, args.task_overhead, args.interval) == (1.0, 1.0, 0.5)
    assert args.output == cluster.RESULTS and args.skip == set()
    quick = cluster.parse_args(["--quick", "--skip", "ray", "--project-workers", "8,64"])
    assert quick.output == cluster.QUICK_RESULTS == BENCHMARKS / "work/quick/cluster.md"
    assert quick.skip == {"ray"} and quick.project_workers == [8, 64]


@pytest.mark.parametrize("argv", [["--skip", "single"], ["--project-size", "lots"],
                                  ["--project-workers", "0"], ["--bandwidth", "0"],
                                  ["--vocab-size", "100"], ["--timeout", "0"]])
def test_bad_options_stop_with_a_usage_error(cluster, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        cluster.parse_args(argv)
    assert stop.value.code == 2


def test_the_corpus_is_the_scale_file_or_the_one_given(cluster, tmp_path):
    args = cluster.parse_args(["--size", "1g"])
    assert args.size == "1g"
    given = tmp_path / "c.txt"
    given.write_text("a\n")
    assert cluster.corpus_path(cluster.parse_args(["--corpus", str(given)])) == given
    with pytest.raises(SystemExit, match="build_scale_corpus"):
        cluster.corpus_path(cluster.parse_args(["--corpus", str(tmp_path / "none.txt")]))


def test_quick_corpus_takes_an_equal_share_of_whole_lines_of_each(cluster, tmp_path):
    texts = {"a": b"".join(b"a%03d\n" % i for i in range(100)),  # 500 bytes
             "b": b"b1\nb2\n",  # shorter than its share: all of it
             "c": b"".join(b"c%03d\n" % i for i in range(100))}
    for name, data in texts.items():
        (tmp_path / f"{name}.txt").write_bytes(data)
    out = cluster.quick_corpus(tmp_path / "q.txt", 306, ("a", "b", "c"), tmp_path)
    # b gives its 6 bytes; a and c share the other 300: 150 each, cut to 30 whole lines
    assert out.read_bytes() == texts["a"][:150] + texts["b"] + texts["c"][:150]
    (tmp_path / "a.txt").write_bytes(b"changed\n")
    assert cluster.quick_corpus(out, 306, ("a", "b", "c"), tmp_path) == out  # made once
    assert out.read_bytes().startswith(b"a000\n")


def test_quick_corpus_of_the_shipped_corpora(cluster, tmp_path):
    data = cluster.quick_corpus(tmp_path / "q.txt", 400_000).read_bytes()
    assert 399_000 < len(data) <= 400_000 and data.endswith(b"\n")
    assert data.startswith((CORPORA / "en.txt").read_bytes()[:1000])
    assert (CORPORA / "mixed.txt").read_bytes()[:1000] in data


# -- bytepiece's summary ---------------------------------------------------------

@pytest.mark.parametrize("n", [0, 5000, 9 * MiB + 12345, 12 * MiB, 2_831_155, 3 * 2**30 + 7])
def test_sizes_read_back_as_bytepiece_writes_them(cluster, n):
    from bytepiece.memory import format_size

    back = cluster.parse_format_size(format_size(n))
    assert abs(back - n) <= max(1024, 0.051 * n)  # format_size keeps 2 or 3 digits


def test_the_cluster_summary_is_read(cluster):
    parsed = cluster.parse_summary(CLUSTER_SUMMARY)
    assert parsed["corpus_mb"] == 8.7 and parsed["trained_seconds"] == 5.3
    assert parsed["phases"] == {"count ngrams": 0.9, "merge ngrams": 0.3, "build lm": 0.0,
                                "count pieces": 2.3, "merge pieces": 0.3, "prune pieces": 1.1}
    assert parsed["cluster"] == {"shards": 4, "parts": 2, "tasks": 40, "passed": 12 * MiB,
                                 "shared": round(2.7 * MiB), "peak_here": 183 * MiB,
                                 "model": round(2.1 * MiB)}
    assert "single" not in parsed
    assert cluster.parse_summary("Traceback ...\nValueError: no\n") is None
    resumed = CLUSTER_SUMMARY.replace("in 5.3s (", "in 5.3s (resumed from an unfinished run) (")
    assert cluster.parse_summary(resumed)["phases"]["prune pieces"] == 1.1


def test_the_summary_bytepiece_writes_is_read(cluster, tmp_path, capsys):
    """bytepiece's own summary, single machine and cluster lines: the format the benchmark
    parses is the one the command writes (a tiny training, in-process)."""
    from bytepiece import Trainer
    from bytepiece.corpus import Corpus
    from bytepiece.training.distributed import Stats
    from bytepiece_cli.train import _summary

    texts = Corpus([str(CORPORA / "tiny" / "en.txt")], "lines", None, "strict", False, None)
    trainer = Trainer(order=6, max_vocab_size=300, min_count=2)
    trainer.train(texts, workers=1)
    paths = trainer.save(str(tmp_path / "m.json"))
    capsys.readouterr()
    _summary(trainer, paths, texts, 1.25, 1)
    single = cluster.parse_summary(capsys.readouterr().err)
    assert single["trained_seconds"] == 1.2 and set(single["phases"]) >= {
        *cluster.COUNT_PHASES, *cluster.MERGE_PHASES, *cluster.CLIENT_PHASES}
    assert single["single"]["spilled_runs"] == 0 and single["single"]["peak_here"] > MiB
    trainer.cluster_stats = Stats(shards=3, parts=2, tasks=34, moved=5 * MiB, shared=300 * 1024,
                                  seconds={"re-split tasks": 7.25, "cut to sizes": 1.5},
                                  detail={"kept n-grams": 200 * 1024})
    _summary(trainer, paths, texts, 1.25, 1)
    on_cluster = cluster.parse_summary(capsys.readouterr().err)["cluster"]
    assert on_cluster["shards"] == 3 and on_cluster["tasks"] == 34
    assert (on_cluster["passed"], on_cluster["shared"]) == (5 * MiB, 300 * 1024)
    assert on_cluster["model"] == 200 * 1024
    assert (on_cluster["resplit_seconds"], on_cluster["cut_seconds"]) == (7.2, 1.5)


# -- the table, the targets, the notes ---------------------------------------------

def result(label, wall, pss, passed=None, shared=None, **more):
    phases = {"count ngrams": 20.0, "merge ngrams": 1.0, "build lm": 2.0,
              "count pieces": 30.0, "merge pieces": 1.0, "prune pieces": 10.0}
    parsed = {"phases": phases}
    if passed is not None:
        parsed["cluster"] = {"shards": 4, "parts": 2, "tasks": 40, "passed": passed,
                             "shared": shared, "peak_here": 200 * MiB}
    return {"label": label, "wall_seconds": wall, "peak_pss_mb": pss, "workers": 2,
            "parsed": parsed, "summary": f"trained on 1000.0 MB in {wall}s", "settings": "s",
            **more}


def runs(bench):
    Missing = bench["_peers"].Missing
    return {
        "single": result("one machine", 100.0, 5000.4),
        "dask": result("Dask", 125.0, 7000.0, passed=60 * MB, shared=5 * MB, identical=True,
                       warm_up_seconds=3.0, at_rest_mb=300.0,
                       dask_transfers={"incoming": 30 * MB, "outgoing": 70 * MB,
                                       "outgoing_total": 80 * MB, "log_full": False,
                                       "workers": 2}),
        "ray": Missing("Ray failed (status 1): ConnectionError: no | cluster",
                       "failed: ConnectionError: no / cluster"),
    }


def test_the_table_shows_every_system_with_or_without_figures(bench, cluster):
    rows = cluster.results_table(runs(bench), 1000 * MB)
    assert rows[0] == ("| system | wall s | peak memory MiB | moved MB | moved % corpus | "
                       "time vs one machine | identical model |")
    assert rows[2:] == [
        "| one machine | 100.0 | 5000 | – | – | 1.00x | – |",
        "| Dask | 125.0 | 7000 | 70.0 | 7.0% | 1.25x | yes |",
        "| Ray | failed: ConnectionError: no / cluster | – | – | – | – | – |",
    ]


def test_targets_say_met_or_missed(bench, cluster):
    results = runs(bench)
    assert cluster.targets(results, 1000 * MB) == [
        "- Dask: time 1.25x one machine (target at most 1.3x: met); moved 7.0% of the corpus "
        "(target at most 10%: met)"]
    results["dask"]["wall_seconds"] = 131.0
    assert "1.31x one machine (target at most 1.3x: missed); moved 11.7% of the corpus " \
           "(target at most 10%: missed)" in cluster.targets(results, 600 * MB)[0]
    results["dask"]["parsed"]["cluster"]["model"] = 30 * MB
    assert cluster.targets(results, 600 * MB)[0].endswith(
        "; of that, the n-gram model sent to each of the 2 workers: 10.0% of the corpus")


def test_notes_give_the_summaries_dask_counters_and_failures(bench, cluster):
    notes = cluster.notes(runs(bench))
    assert notes[0] == "- one machine: `trained on 1000.0 MB in 100.0s`"
    assert "cluster at rest after its warm-up training (3.0 s): 300 MiB PSS" in notes[2]
    assert "received from other workers 30.0 MB" in notes[3]
    assert "sent to workers and to the client 70.0 MB" in notes[3]
    assert notes[4] == "- Ray: Ray failed (status 1): ConnectionError: no | cluster"


def test_models_are_compared_byte_for_byte(cluster, tmp_path):
    for name, text in (("single", "{}"), ("dask", "{}"), ("ray", "{ }")):
        (tmp_path / f"{name}.json").write_text(text)
    results = {k: {"model": str(tmp_path / f"{k}.json")} for k in ("single", "dask", "ray")}
    cluster.compare(results)
    assert results["dask"]["identical"] is True and results["ray"]["identical"] is False
    assert "identical" not in results["single"]


# -- the projection --------------------------------------------------------------

def measured(cluster, **changes):
    m = dict(corpus_bytes=GB, workers=2, shards=4, parts=2, count_seconds=100.0,
             merge_seconds=2.0, client_seconds=12.0, passed=60 * MB, shared=5 * MB)
    m.update(changes)
    return cluster.Measured(**m)


def test_measured_figures_come_from_the_summary(bench, cluster):
    m = cluster.Measured.of(runs(bench)["dask"], GB)
    assert (m.count_seconds, m.merge_seconds, m.client_seconds) == (50.0, 2.0, 12.0)
    assert (m.workers, m.shards, m.parts, m.passed, m.shared) == (2, 4, 2, 60 * MB, 5 * MB)
    assert cluster.count_rate(m) == 10 * MB  # 1 GB in 50 s on 2 workers


def test_shard_plan_matches_how_the_corpus_is_cut(cluster, tmp_path):
    from bytepiece.corpus import Corpus

    path = tmp_path / "c.txt"
    path.write_bytes(b"".join(b"%07d\n" % i for i in range(700_000)))  # 5.6 MB of lines
    size = path.stat().st_size
    for slots in (1, 2, 3):
        shards, target = cluster.shard_plan(size, slots)
        cut = Corpus([str(path)], "lines", None, "strict", False, None).shards(target)
        assert len(cut) == shards


def test_projection_arithmetic(cluster):
    m = measured(cluster)
    p = cluster.project(m, 100 * GB, 32, bandwidth=GB, task_overhead=0.001)
    shards, target = cluster.shard_plan(100 * GB, 32)
    assert (p["shards"], target) == (373, 256 * MiB)
    assert p["count"] == pytest.approx(math.ceil(373 / 32) * target / (5 * MB))  # 12 waves
    assert p["merge"] == pytest.approx(2.0 * 100 * 2 / 32)
    assert p["transfer"] == pytest.approx(6000 * MB / (32 * GB))
    assert p["broadcast"] == pytest.approx(500 * MB * 32 / GB)
    assert p["tasks"] == 3 * 373 + 3 * 32
    assert p["scheduler"] == pytest.approx(p["tasks"] / 1000)
    assert (p["client_low"], p["client_high"]) == (12.0, 1200.0)
    assert p["re-split"] == 0  # none measured
    fixed = p["count"] + p["merge"] + p["transfer"] + p["broadcast"] + p["scheduler"]
    assert p["total_low"] == pytest.approx(fixed + 12)
    assert p["total_high"] == pytest.approx(fixed + 1200)
    assert p["moved"] == pytest.approx(6000 * MB + 500 * MB * 32)
    assert p["moved_share"] == pytest.approx(p["moved"] / (100 * GB))


def test_resplit_tasks_scale_with_workers(cluster):
    m = measured(cluster, resplit_seconds=40.0)
    p = cluster.project(m, 100 * GB, 32, bandwidth=GB, task_overhead=0.001)
    assert p["re-split"] == pytest.approx(40.0 * 100 * 2 / 32)
    without = cluster.project(measured(cluster), 100 * GB, 32, GB, 0.001)
    assert p["total_low"] == pytest.approx(without["total_low"] + p["re-split"])


def test_more_workers_count_faster_and_broadcast_more(cluster):
    m = measured(cluster)
    small, large = (cluster.project(m, 100 * GB, w, GB, 0.001) for w in (32, 128))
    assert large["count"] < small["count"] / 3 and large["merge"] == small["merge"] / 4
    assert large["broadcast"] == pytest.approx(4 * small["broadcast"])
    assert large["tasks"] > small["tasks"] and large["moved"] > small["moved"]
    slower = cluster.project(measured(cluster, count_seconds=200.0), 100 * GB, 32, GB, 0.001)
    assert slower["count"] == pytest.approx(2 * small["count"])


def test_projection_section_states_its_inputs_and_flags_small_shards(bench, cluster):
    args = cluster.parse_args([])
    results = runs(bench)
    lines = cluster.projection_section(args, results, GB)
    text = "\n".join(lines)
    assert lines[1] == "### Projection: 100 GB on 32 and 128 workers"
    assert "- Dask, measured: count phases 50.0 s on 2 workers = 10.00 MB/s per worker" in text
    assert "60.0 MB passed and 5.0 MB shared per GB of corpus; 4 shards of 250 MB." in text
    assert "| Dask | 32 | 373 |" in text and "| Dask | 128 | 373 |" in text
    assert "smoke test" not in text  # shards of 250 MB: as large as the projection's
    small = cluster.projection_section(args, results, 8 * MB)
    assert "smoke test of the arithmetic" in "\n".join(small)
    assert cluster.projection_section(args, {"single": results["single"]}, GB) == []


def test_the_report_renders(bench, cluster):
    args = cluster.parse_args([])
    info = {"corpus": "`corpora/scale/scale-1G.txt`", "corpus_bytes": GB, "command": "c",
            "elapsed": 9.0, "setup": {"machine": "m"}}
    report = cluster.render(args, info, runs(bench))
    assert report.startswith("## Training on a cluster\n")
    for part in ("| Dask | 125.0 | 7000 | 70.0 | 7.0% | 1.25x | yes |", "Targets (issue 13)",
                 "### Projection", "### Setup", "- machine: m", "Command: `c`"):
        assert part in report


# -- processes (tiny commands, no cluster) -----------------------------------------

def test_a_process_group_is_stopped_whole(cluster, tmp_path):
    import psutil

    proc = cluster._spawn(["sh", "-c", "sleep 30 & sleep 30"], tmp_path / "log", dict(os.environ),
                          tmp_path)
    time.sleep(0.3)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children
    started = time.monotonic()
    cluster.Cluster("test", "tcp://x", procs=[proc]).stop()
    assert time.monotonic() - started < 10 and proc.returncode is not None
    # orphans are signalled with the group; they may take a moment to die and be reaped
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not [c for c in alive if c.status() != psutil.STATUS_ZOMBIE]


def test_memory_is_summed_over_the_trees_and_the_marked_processes(cluster, tmp_path):
    import psutil

    marker = f"marker-{tmp_path.name}"
    code = "import sys, time; x = bytearray(30 * 2**20); x[::4096] = b'x' * len(x[::4096]); " \
           "time.sleep(5)"
    tree = cluster._spawn([sys.executable, "-c", code], tmp_path / "a.log", dict(os.environ),
                          tmp_path)
    marked = cluster._spawn([sys.executable, "-c", code, marker], tmp_path / "b.log",
                            dict(os.environ), tmp_path)
    try:
        time.sleep(1.0)
        found = cluster.involved(cluster._processes([tree]), marker)
        assert set(found) == {tree.pid, marked.pid}
        assert cluster.total_pss(found.values()) > 50 * MiB
        run = cluster.run_sampled([sys.executable, "-c", "import time; time.sleep(0.5)"], {},
                                  tmp_path, roots=[tree], marker=marker, interval=0.1,
                                  timeout=10)
        assert run.returncode == 0 and run.killed is None and run.peak_pss > 50 * MiB
        slow = cluster.run_sampled([sys.executable, "-c", "import time; time.sleep(30)"], {},
                                   tmp_path, roots=[], marker=None, interval=0.1, timeout=0.5)
        assert slow.killed == "timeout" and slow.wall < 5
    finally:
        cluster.Cluster("test", "x", procs=[tree, marked]).stop()
    assert not psutil.pid_exists(tree.pid) or psutil.Process(tree.pid).status() == "zombie"


def test_the_train_command(cluster):
    args = cluster.parse_args([])
    single = cluster.train_command(Path("c.txt"), Path("m.json"), args, None)
    assert single[-7:] == ["c.txt", "-o", "m.json", "--vocab-size", "32000", "--workers", "2"]
    on_ray = cluster.train_command(Path("c.txt"), Path("m.json"), args,
                                   cluster.Cluster("ray", "ray:auto"))
    assert on_ray[-2:] == ["--cluster", "ray:auto"] and "--workers" not in on_ray
