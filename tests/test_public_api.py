"""Every public function and method, called with arbitrary arguments, raises or returns:
none kills the interpreter (a kernel handed a bad array would read or write out of bounds).

The calls run in a subprocess (this file run as a script), so that a crash fails the test
instead of ending the run; each call is written to stderr before it is made, so the last
line names the call that crashed.
"""

from __future__ import annotations

import collections
import inspect
import os
import shutil
import subprocess
import sys
import time

from conftest import FIXTURES

MODEL = FIXTURES / "models" / "ref-small.json"
EXAMPLES = 1500
SECONDS = 40  # the child stops drawing calls after this long


def test_no_public_call_dies_of_a_signal(tmp_path):
    shutil.copy(MODEL, tmp_path / "model.json")  # calls may write over their model
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, __file__, "model.json", str(EXAMPLES), str(SECONDS)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    tail = "\n".join(proc.stderr.splitlines()[-5:])
    assert proc.returncode >= 0, f"killed by signal {-proc.returncode}; last calls:\n{tail}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = collections.Counter(line.split(" ")[1] for line in proc.stderr.splitlines()
                                if line.startswith("call "))
    missing = [name for name in public_callables_names() if not calls[name]]
    assert not missing, f"never called: {missing}"
    assert sum(calls.values()) >= 500, calls
    # arrays of the right type with bad values reached the kernels' checks
    assert "InputError: text_ends" in proc.stderr


def public_callables_names() -> list[str]:
    return [name for name, _ in public_callables(None, None, None)]


def public_callables(tokenizer, trainer, model) -> list[tuple[str, object]]:
    """(name, callable): the classes of ``bytepiece.__all__``, their public class and
    static methods, and the public methods of an instance of each."""
    import bytepiece

    out = []
    instances = {"Tokenizer": tokenizer, "Trainer": trainer, "Model": model}
    for export in bytepiece.__all__:
        cls = getattr(bytepiece, export)
        if not inspect.isclass(cls) or issubclass(cls, BaseException):
            continue
        out.append((export, cls))
        for attr, value in sorted(vars(cls).items()):
            if attr.startswith("_") and attr not in ("__len__", "__iter__"):
                continue
            if isinstance(value, (classmethod, staticmethod)):
                out.append((f"{export}.{attr}", getattr(cls, attr)))
            elif inspect.isfunction(value):
                instance = instances[export]
                out.append((f"{export}().{attr}",
                            getattr(instance, attr) if instance is not None else None))
    return out


# -- the child ---------------------------------------------------------------------

def main(model_path: str, examples: int, seconds: float) -> None:
    import resource

    # a runaway allocation fails with MemoryError here instead of waking the OOM killer
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    import numpy as np
    from hypothesis import HealthCheck, given, settings, strategies as st
    from hypothesis.extra import numpy as hnp

    from bytepiece import Model, Tokenizer, Trainer
    from bytepiece._kernels.lm import count_pieces as count_piece_table, new_piece_table
    from bytepiece.chunking import pack_chunks

    tokenizer = Tokenizer(model_path, seed=1)
    model = Model.load(model_path)
    trainer = Trainer(order=4, max_vocab_size=300, min_count=1)
    corpus = ["the cat sat on the mat\n", "the dog sat\n", "中文 text 123\n"] * 20
    trainer.train(corpus)
    lm = _lm_arrays(trainer, corpus)
    buf, chunk_ends, _ = pack_chunks(corpus)
    table = count_piece_table(buf, chunk_ends, *lm, trainer.order, True,
                              *new_piece_table(1 << 10))
    callables = public_callables(tokenizer, trainer, model)
    deadline = time.monotonic() + seconds

    dtypes = st.sampled_from(["uint8", "int8", "int16", "int32", "int64", "uint32", "uint64",
                              "float32", "float64", "bool", ">i8", "complex64"])
    shapes = st.one_of(st.just(()), st.tuples(st.integers(0, 40)),
                       st.tuples(st.integers(0, 4), st.integers(0, 4)))
    any_array = hnp.arrays(dtypes, shapes).flatmap(
        lambda a: st.sampled_from([a, a[::2] if a.ndim else a, a.T]))
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.integers(-3, 300), st.floats(), st.text(max_size=20),
                        st.binary(max_size=20), st.sampled_from([np.int64(-1), np.uint64(2**64 - 1),
                                                                 np.float32("nan"), object()]))
    generic = st.recursive(st.one_of(scalars, any_array),
                           lambda inner: st.one_of(st.lists(inner, max_size=5),
                                                   st.tuples(inner, inner),
                                                   st.dictionaries(st.text(max_size=3), inner,
                                                                   max_size=3)),
                           max_leaves=8)
    offsets = st.one_of(st.integers(-3, 70), st.integers(-2**63, 2**63 - 1))
    uint8_buf = st.one_of(hnp.arrays(np.uint8, st.integers(0, 64)),
                          st.binary(max_size=64).map(lambda b: np.frombuffer(b, np.uint8)))
    # arguments of the right type with wrong values, by parameter name
    hints = {
        "buf": uint8_buf,
        "text_ends": st.lists(offsets, max_size=6).map(lambda v: np.array(v, np.int64)),
        "ids": st.one_of(st.lists(st.integers(-5, tokenizer.vocab_size + 5), max_size=10),
                         hnp.arrays(st.sampled_from(["int32", "int64", "uint16", "float64"]),
                                    st.integers(0, 10))),
        "batch": st.lists(st.lists(st.integers(-2, tokenizer.vocab_size + 2), max_size=5),
                          max_size=3),
        "texts": st.lists(st.text(max_size=30), max_size=8),
        "text": st.text(max_size=60),
        "data": st.binary(max_size=60),
        "alpha": st.one_of(st.floats(), st.sampled_from([-1.0, 0.0, 0.1, 1.0])),
        "seed": st.one_of(st.none(), st.integers(-2, 2**64 + 2)),
        "num_threads": st.one_of(st.none(), st.integers(-1, 4), st.sampled_from([10**9])),
        "workers": st.one_of(st.integers(-1, 3), st.sampled_from([10**9])),
        "path": st.sampled_from([model_path, "out/x.json", "", ".", "missing.json"]),
        "model": st.one_of(st.sampled_from([model_path, "missing.json"]),
                           st.dictionaries(st.text(max_size=4), generic, max_size=3)),
        "tmp_dir": st.sampled_from([None, "tmp", "."]),
        "slice_keys": _mutated(hnp, st, np, np.array(
            [(1 << 56) | b for b in range(256)], np.uint64)),
        "slice_counts": st.one_of(hnp.arrays(np.int64, st.integers(0, 300)),
                                  st.just(np.ones(256, np.int64))),
        "keys": _mutated(hnp, st, np, np.array([(1 << 56) | b for b in range(256)], np.uint64)),
        "counts": st.one_of(hnp.arrays(np.int64, st.integers(0, 300)),
                            st.just(np.ones(256, np.int64))),
        "lm_arrays": st.tuples(*(_mutated(hnp, st, np, a) for a in lm)).map(tuple),
        "table": st.tuples(*(_mutated(hnp, st, np, a) if isinstance(a, np.ndarray)
                             else st.one_of(st.just(a), st.integers(-5, 2**40))
                             for a in table)),
        "total": st.one_of(st.integers(-5, 2**70), st.just(1000)),
    }

    def argument(name: str):
        return st.one_of(hints[name], generic) if name in hints else generic

    @st.composite
    def calls(draw):
        name, fn = draw(st.sampled_from(callables))
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        required = sum(p.default is p.empty for p in params)
        n = draw(st.integers(required, len(params)))
        return name, fn, [draw(argument(p.name)) for p in params[:n]]

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(calls())
    def run(call):
        name, fn, args = call
        if time.monotonic() > deadline:
            return
        print(f"call {name} ({_short(args)})", file=sys.stderr, flush=True)
        try:
            result = fn(*args)
            if inspect.isgenerator(result):
                list(result)
        except Exception as e:  # refusals are fine; only a dead interpreter is not
            print(f"  {type(e).__name__}: {str(e)[:200]}", file=sys.stderr, flush=True)

    run()


def _lm_arrays(trainer, corpus):
    """The n-gram LM a trainer builds on ``corpus`` (as ``Trainer.count_pieces`` takes it)."""
    (run,), total = trainer.count_ngrams(corpus)
    block = run.block  # the one run, in memory
    return trainer.prune_ngrams(block.keys.byteswap(), block.counts, total)


def _mutated(hnp, st, np, array):
    """The array as it is, with a few elements overwritten, or cut, or of another dtype."""
    def overwrite(values):
        out = array.copy()
        if out.shape[0]:
            for i, v in values:
                out[i % out.shape[0]] = v
        return out

    if array.dtype.kind == "f":
        values = st.floats()
    else:
        info = np.iinfo(array.dtype)
        values = st.one_of(st.integers(int(info.min), int(info.max)),
                           st.integers(0, min(300, int(info.max))))
    return st.one_of(
        st.just(array),
        st.lists(st.tuples(st.integers(0, 2**31), values), min_size=1, max_size=4).map(overwrite),
        st.integers(0, max(0, array.shape[0] - 1)).map(lambda k: array[:k]),
        st.just(array.astype(np.float64) if array.dtype.kind != "f" else array.astype(np.int64)))


def _short(args) -> str:
    text = ", ".join(_one(a) for a in args)
    return text if len(text) < 300 else text[:300] + "..."


def _one(a) -> str:
    try:
        import numpy as np

        if isinstance(a, np.ndarray):
            return f"array({a.tolist()[:8]!r}..., dtype={a.dtype}, shape={a.shape})"
    except Exception:
        pass
    return repr(a)[:80]


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
