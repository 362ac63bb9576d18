"""How often converted models give bytepiece's ids: SentencePiece and tokenizers, line by line.

A model trained by `bytepiece train corpora/mixed.txt --vocab-size 8000` is converted with
`bytepiece convert --to sentencepiece` and `--to huggingface` (the library functions the
command calls); then every line of each shipped corpus (its newline kept) is encoded by
bytepiece (`encode_batch`), by SentencePiece (`encode`, on the line as it is and on its NFC
form, which is what bytepiece encodes) and by tokenizers (`encode_batch`, no special
tokens), and the share of lines with identical ids is reported.

    python benchmarks/convert.py            # about a minute; writes benchmarks/results/convert.md
    python benchmarks/convert.py --quick    # the tiny corpora only, vocabulary 1000

See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from _report import command_line, footer, load_average, log, machine, publish

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CORPORA = ROOT / "corpora"
RESULTS = HERE / "results" / "convert.md"
#: (row label, files): each shipped corpus, and the tiny ones
CORPUS_ROWS = (
    ("code.txt", ["code.txt"]),
    ("en.txt", ["en.txt"]),
    ("mixed.txt", ["mixed.txt"]),
    ("zh.txt", ["zh.txt"]),
    ("tiny/code.py, en.txt, zh.txt", ["tiny/code.py", "tiny/en.txt", "tiny/zh.txt"]),
    ("tiny/unicode-edge.txt", ["tiny/unicode-edge.txt"]),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab-size", type=int, default=None, help="default 8000 (1000 with --quick)")
    p.add_argument("--quick", action="store_true", help="the tiny corpora only")
    p.add_argument("--output", type=Path, default=RESULTS, help="report (default: %(default)s)")
    args = p.parse_args(argv)
    args.vocab_size = args.vocab_size or (1000 if args.quick else 8000)
    return args


def read_lines(files: list[str]) -> list[str]:
    """The lines of the files, newlines kept."""
    lines = []
    for name in files:
        lines += (CORPORA / name).read_text(encoding="utf-8").splitlines(keepends=True)
    return lines


def share(same: int, total: int) -> str:
    """A share of lines as the report writes it.

    >>> share(3, 3), share(2, 3), share(131210, 131414)
    ('100%', '66.7%', '99.845%')
    """
    if same == total:
        return "100%"
    return f"{100 * same / total:.3f}%" if same / total > 0.99 else f"{100 * same / total:.1f}%"


def agreement(ours: list[list[int]], theirs: list[list[int]]) -> int:
    """How many lines have identical ids.

    >>> agreement([[1, 2], [3]], [[1, 2], [4]])
    1
    """
    return sum(a == list(b) for a, b in zip(ours, theirs, strict=True))


def main(argv=None) -> None:
    import sentencepiece
    import tokenizers

    from bytepiece import Tokenizer
    from bytepiece.convert.huggingface import to_huggingface_json
    from bytepiece.convert.sentencepiece import to_sentencepiece
    from bytepiece.model import Model

    args = parse_args(argv)
    load, start = os.getloadavg()[0], time.perf_counter()
    rows_wanted = CORPUS_ROWS[-2:] if args.quick else CORPUS_ROWS
    with tempfile.TemporaryDirectory(prefix="bytepiece-convert-") as tmp:
        model_path = Path(tmp) / "mixed.json"
        log(f"training {args.vocab_size} pieces on corpora/mixed.txt ...")
        import subprocess

        subprocess.run([sys.executable, "-m", "bytepiece", "train", str(CORPORA / "mixed.txt"),
                        "-o", str(model_path), "--vocab-size", str(args.vocab_size), "-q"],
                       check=True)
        model = Model.load(model_path)
        sp = sentencepiece.SentencePieceProcessor(model_proto=to_sentencepiece(model))
        hf = tokenizers.Tokenizer.from_str(to_huggingface_json(model).decode())
        tokenizer = Tokenizer(model_path)
    rows = []
    for label, files in rows_wanted:
        log(f"{label} ...")
        lines = read_lines(files)
        ours = tokenizer.encode_batch(lines)
        nfc = [unicodedata.normalize("NFC", line) for line in lines]
        sp_ids = sp.encode(lines)
        sp_nfc = sp_ids if nfc == lines else sp.encode(nfc)
        hf_ids = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        n = len(lines)
        rows.append([label, f"{n:,}", share(agreement(ours, sp_ids), n),
                     share(agreement(ours, sp_nfc), n), share(agreement(ours, hf_ids), n)])
    info = machine(os.cpu_count() or 1)
    lines = ["## Converted models against bytepiece", "",
             f"Lines (each with its newline) on which the converted model gives bytepiece's ids, "
             f"for a model of {len(model) + 3:,} ids trained by `bytepiece train corpora/mixed.txt "
             f"--vocab-size {args.vocab_size}`. SentencePiece does not normalize: the second "
             "column gives it the NFC text bytepiece encodes.", "",
             "| corpus | lines | SentencePiece | SentencePiece, NFC text | tokenizers |",
             "|---|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    versions = {"sentencepiece": sentencepiece.__version__, "tokenizers": tokenizers.__version__}
    report = {"setup": {**info, "load average (start, end)": load_average(load), **versions},
              "command": command_line("benchmarks/convert.py", argv),
              "elapsed": time.perf_counter() - start}
    lines += footer(report, {"SentencePiece": "`bytepiece convert MODEL --to sentencepiece` "
                                              "(bytepiece.convert.sentencepiece.to_sentencepiece)",
                             "tokenizers": "`bytepiece convert MODEL --to huggingface` "
                                           "(bytepiece.convert.huggingface.to_huggingface_json)"})
    publish("\n".join(lines), args.output)


if __name__ == "__main__":
    main()
