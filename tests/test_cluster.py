"""Training and encoding on a cluster, on real engines: a Dask LocalCluster of 2 worker
processes and a local Ray cluster of 2 CPUs, started here and stopped at the end.

Every model trained on a cluster is compared byte for byte with the model of one
machine, for several shard sizes and numbers of parts; so are the token arrays
of distributed encoding with those of ``bytepiece encode``.
"""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest

from bytepiece import Trainer
from bytepiece.corpus import Corpus
from bytepiece.errors import InputError

from conftest import CORPORA, invoke_cli

FILES = [CORPORA / "zh.txt", CORPORA / "mixed.txt"]
SIZES = [3000, 6000]


def _model_bytes(trainer: Trainer, tmp_path, name: str) -> list[bytes]:
    paths = trainer.save(tmp_path / name)
    return [open(p, "rb").read() for p in paths]


@pytest.fixture(scope="module")
def local_model(tmp_path_factory):
    """The single-machine model the clusters must reproduce."""
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus(FILES), workers=2)
    return _model_bytes(trainer, tmp_path_factory.mktemp("local"), "m.json")


@pytest.fixture(scope="module")
def dask_client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield "ray:auto"
    finally:
        ray.shutdown()


# shard sizes and parts: the default, many small shards, and parts of one and five
LAYOUTS = [(None, None), (1 << 18, 3), (1 << 19, 1), (700_000, 5)]


@pytest.mark.parametrize("shard_bytes,parts", LAYOUTS)
def test_dask_trains_the_same_model(dask_client, local_model, tmp_path, shard_bytes, parts):
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus(FILES), cluster=dask_client, shard_bytes=shard_bytes, parts=parts)
    assert _model_bytes(trainer, tmp_path, "d.json") == local_model
    stats = trainer.cluster_stats
    assert stats.parts == (parts or 2)
    assert stats.shards >= (2 if shard_bytes is None else
                            sum(os.path.getsize(f) for f in FILES) // shard_bytes)
    assert stats.moved > 0 and stats.shared > 0  # counted (their size: benchmarks/cluster.py)


def test_dask_resplitting_through_the_automaton_trains_the_same_model(dask_client,
                                                                      local_model, tmp_path):
    """The workers' re-split tasks and this machine's cut read the pieces through the kept
    pieces' automaton (however few they are), and the model is the one of one machine,
    which walked the trie."""
    from bytepiece.training import prune

    def use_automaton_from(size):
        from bytepiece.training import prune

        prune.AUTOMATON_FROM_BYTES = size

    def splitters_with_automaton():
        from bytepiece.training import distributed

        return [value[0].trie.fail is not None for value in distributed._CACHE.values()
                if isinstance(value, tuple) and isinstance(value[0], prune.Splitter)]

    default = prune.AUTOMATON_FROM_BYTES
    dask_client.run(use_automaton_from, 0)
    try:
        prune.AUTOMATON_FROM_BYTES = 0
        trainer = Trainer(max_vocab_size=SIZES)
        trainer.train(Corpus(FILES), cluster=dask_client)
        used = dask_client.run(splitters_with_automaton)
    finally:
        prune.AUTOMATON_FROM_BYTES = default
        dask_client.run(use_automaton_from, default)
    assert _model_bytes(trainer, tmp_path, "a.json") == local_model
    assert sum(used.values(), []) and all(sum(used.values(), []))


@pytest.mark.parametrize("shard_bytes,parts", LAYOUTS[:2])
def test_ray_trains_the_same_model(ray_cluster, local_model, tmp_path, shard_bytes, parts):
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus(FILES), cluster=ray_cluster, shard_bytes=shard_bytes, parts=parts)
    assert _model_bytes(trainer, tmp_path, "r.json") == local_model


def test_options_reach_the_workers(dask_client, tmp_path):
    """Every parameter of the algorithm gives the model of one machine."""
    params = dict(order=4, max_vocab_size=2000, max_piece_length=8, min_count=3,
                  isolate_digits=True, ensure_unicode=False)
    files = [CORPORA / "code.txt"]
    local, remote = Trainer(**params), Trainer(**params)
    local.train(Corpus(files, isolate_digits=True), workers=2)
    remote.train(Corpus(files, isolate_digits=True), cluster=dask_client, shard_bytes=1 << 20)
    assert _model_bytes(remote, tmp_path, "r.json") == _model_bytes(local, tmp_path, "l.json")


def _when_a_shard_is_counted(monkeypatch, killed: list, kill) -> None:
    """Call ``kill()`` when the client hears of the first shards counted in the first pass,
    until it reports a kill in ``killed`` (the other shards are still being counted)."""
    import bytepiece.training.batches as batches

    class KillingProgress(batches.Progress):
        def __init__(self, desc, texts, unit="B"):
            super().__init__(desc, texts, unit)
            if desc == "Count Ngrams":
                update = self.bar.update

                def kill_once(n):
                    if not killed:
                        kill()
                    update(n)

                self.bar.update = kill_once

    monkeypatch.setattr(batches, "Progress", KillingProgress)


def test_a_worker_killed_in_the_count_pass_changes_nothing(dask_client, local_model, tmp_path,
                                                           monkeypatch):
    """SIGKILL one worker process once the first shards are counted: the scheduler reruns
    what it held and was running, and the model is the same."""
    pids = sorted(dask_client.run(os.getpid).values())
    killed = []

    def kill():
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    _when_a_shard_is_counted(monkeypatch, killed, kill)
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus(FILES), cluster=dask_client, shard_bytes=1 << 17, parts=2)
    assert killed and killed[0] not in dask_client.run(os.getpid).values()
    assert _model_bytes(trainer, tmp_path, "k.json") == local_model
    dask_client.wait_for_workers(2, timeout=60)


def test_file_urls_train_on_the_cluster(dask_client, local_model, tmp_path):
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus([f"file://{os.path.abspath(f)}" for f in FILES]), cluster=dask_client)
    assert _model_bytes(trainer, tmp_path, "u.json") == local_model


def test_bad_clusters_are_one_line_errors(dask_client):
    trainer = Trainer(max_vocab_size=300)
    with pytest.raises(InputError, match="expected tcp://HOST:PORT"):
        trainer.train(Corpus(FILES), cluster="http://nowhere")
    with pytest.raises(InputError, match="needs a Corpus"):
        trainer.train(["some text\n"] * 10, cluster=dask_client)
    with pytest.raises(InputError, match="must be a dask.distributed.Client or a URL"):
        trainer.train(Corpus(FILES), cluster=42)


# -- the command line ------------------------------------------------------------------------

def test_cli_train_on_a_scheduler_url(dask_client, tmp_path):
    address = dask_client.scheduler.address
    args = ["train", *FILES, "--vocab-size", "3000", "--order", "5"]
    local = invoke_cli([*args, "-o", tmp_path / "l.json", "-q"])
    remote = invoke_cli([*args, "-o", tmp_path / "r.json", "--cluster",
                         address.replace("tcp://", "dask://")])
    assert local.exit_code == 0 and remote.exit_code == 0, remote.output
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "l.json").read_bytes()
    assert "on the cluster: " in remote.stderr and " parts per merge" in remote.stderr
    bad = invoke_cli([*args, "-o", tmp_path / "x.json", "--cluster", "udp://x"])
    assert bad.exit_code == 1 and "bytepiece: error: cluster 'udp://x': expected" in bad.stderr
    assert "Traceback" not in bad.output and not (tmp_path / "x.json").exists()


@pytest.fixture(scope="module")
def encode_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("encode") / "m.json"
    trainer = Trainer(max_vocab_size=4000)
    trainer.train(Corpus([CORPORA / "mixed.txt"]))
    trainer.save(path)
    return path


@pytest.mark.parametrize("fmt,flags", [("npy", []), ("bin", ["--bos", "--eos"])])
def test_cli_encode_on_the_cluster_gives_the_ids_of_one_machine(dask_client, encode_model,
                                                                 tmp_path, fmt, flags):
    from bytepiece.encode_shards import read_index

    inputs = [CORPORA / "zh.txt", CORPORA / "tiny" / "unicode-edge.txt", CORPORA / "code.txt"]
    out = tmp_path / "out"
    common = ["encode", "-m", encode_model, "--format", fmt, *flags]
    one = invoke_cli([*common, "-o", tmp_path / f"one.{fmt}", *inputs])
    many = invoke_cli([*common, "-o", out, "--cluster", dask_client.scheduler.address, *inputs])
    assert one.exit_code == 0 and many.exit_code == 0, many.output

    def load(path):
        return np.load(path) if fmt == "npy" else np.fromfile(path, np.uint16)

    index = read_index(out)
    assert [r.file for r in index] + ["index.tsv"] == sorted(os.listdir(out),
                                                             key=lambda n: (n == "index.tsv", n))
    joined = np.concatenate([load(out / r.file) for r in index])
    assert np.array_equal(joined, load(tmp_path / f"one.{fmt}"))
    assert sum(r.tokens for r in index) == len(joined)
    assert sum(r.bytes for r in index) == sum(os.path.getsize(f) for f in inputs)
    lines = sum(open(f, "rb").read().count(b"\n") for f in inputs)
    assert lines <= sum(r.documents for r in index) <= lines + len(inputs)
    if "--eos" in flags:
        assert (joined == 2).sum() == sum(r.documents for r in index)


def test_cli_encode_on_the_cluster_refuses_what_it_cannot_do(dask_client, encode_model,
                                                             tmp_path):
    address = dask_client.scheduler.address
    base = ["encode", "-m", encode_model, "--cluster", address]
    cases = [
        ([*base, "--format", "ids", "-o", tmp_path / "o", CORPORA / "zh.txt"],
         "--cluster writes token arrays: use --format bin or npy"),
        ([*base, "--format", "npy", CORPORA / "zh.txt"], "--cluster needs -o OUT_DIR"),
        ([*base, "--format", "npy", "-o", tmp_path / "o", "--alpha", "0.1",
          CORPORA / "zh.txt"], "--cluster encodes the best segmentation only"),
        ([*base, "--format", "npy", "-o", tmp_path / "o"], "--cluster reads files"),
    ]
    for args, message in cases:
        result = invoke_cli(args)
        assert result.exit_code == 2 and message in result.stderr, result.output
    (tmp_path / "file").write_text("x")
    result = invoke_cli([*base, "--format", "npy", "-o", tmp_path / "file", CORPORA / "zh.txt"])
    assert result.exit_code == 1
    assert f"bytepiece: error: cannot write into {tmp_path / 'file'}: it is a file" in result.stderr


def test_ray_encodes_the_same_ids(ray_cluster, encode_model, tmp_path):
    from bytepiece.encode_shards import encode_on_cluster, read_index
    from bytepiece.executors import connect
    from bytepiece.model import Model

    inputs = [CORPORA / "zh.txt", CORPORA / "en.txt"]
    one = invoke_cli(["encode", "-m", encode_model, "--format", "npy", "-o",
                      tmp_path / "one.npy", *inputs])
    assert one.exit_code == 0
    engine = connect(ray_cluster)
    results = encode_on_cluster(Model.load(encode_model), Corpus(inputs), str(tmp_path / "o"),
                                "npy", engine, shard_bytes=1 << 21)
    assert len(results) > 3 and results == read_index(tmp_path / "o")
    joined = np.concatenate([np.load(tmp_path / "o" / r.file) for r in results])
    assert np.array_equal(joined, np.load(tmp_path / "one.npy"))


def test_a_ray_worker_killed_while_counting_changes_nothing(ray_cluster, local_model, tmp_path,
                                                            monkeypatch):
    """SIGKILL a Ray worker process while it runs a count task: Ray runs the task again."""
    import psutil

    killed = []

    def kill_a_counting_worker():
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or [])
            if line.startswith("ray::count_ngrams_task"):
                proc.kill()
                killed.append(proc.pid)
                return

    _when_a_shard_is_counted(monkeypatch, killed, kill_a_counting_worker)
    trainer = Trainer(max_vocab_size=SIZES)
    trainer.train(Corpus(FILES), cluster=ray_cluster, shard_bytes=1 << 16, parts=2)
    assert killed, "no worker was counting when the first shard was done"
    assert not psutil.pid_exists(killed[0])
    assert _model_bytes(trainer, tmp_path, "k.json") == local_model
