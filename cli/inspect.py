"""``bytepiece inspect``: what a model's vocabulary holds, as text or JSON."""

from __future__ import annotations

import json

import click



@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", metavar="MODEL")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the longest and of the most frequent pieces to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(model, top, as_json):
    """Describe a MODEL: its size, piece lengths, longest and most frequent
    pieces, pieces by script, and what it tells of its training.

    MODEL is a bytepiece JSON model, a SentencePiece .model or a Hugging Face
    tokenizer.json, told apart by their content (neither library is needed).
    Their special, control and unknown tokens count as special tokens; unigram
    models rank pieces by probability, BPE and WordPiece files have no
    frequencies to show. A SentencePiece file records its training settings.

    Pieces are shown as text where they are UTF-8, other bytes as \\xHH (with
    backslash, newline, tab and CR escaped). Scripts: CJK, Latin, digits,
    punctuation and space, other or mixed, and partial UTF-8 (pieces that are
    not whole characters); a piece's punctuation and spaces go with its letters.

    \b
    Examples:
      bytepiece inspect model.json
      bytepiece inspect model.json --top 50
      bytepiece inspect model.json --json | jq .scripts
      bytepiece inspect sp.model --top 10
      bytepiece inspect tokenizer.json
    """
    from bytepiece.errors import BytePieceError
    from bytepiece.evaluate_models import model_kind
    from bytepiece.foreign_vocab import read_vocabulary
    from bytepiece.model import Model
    from bytepiece.vocab_report import foreign_report, vocab_report

    try:
        kind = model_kind(model)
        if kind == "bytepiece":
            report = vocab_report(Model.load(model), top)
        else:
            report = foreign_report(read_vocabulary(model, kind), top)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(_text(report, model), nl=False)


def _user_special(report: dict) -> str:
    """The user special tokens for the vocabulary line (model format 2), or nothing."""
    tokens = report.get("user_special_tokens")
    if not tokens:
        return ""
    shown = ", ".join(f"{json.dumps(t, ensure_ascii=False)} {i}" for t, i in tokens.items())
    return (f", then {len(tokens)} user special tokens (model format "
            f"{report['format_version']}): {shown}")


_NAMES = {"sentencepiece": "SentencePiece", "huggingface": "Hugging Face tokenizer.json"}


def _text(report: dict, model: str) -> str:
    """The report as aligned plain text."""
    lines = [f"model       {model}"]
    if "kind" in report:
        lines[0] += f" ({_NAMES[report['kind']]}, {report['model_type']})"
    lines.append(f"vocabulary  {report['vocab_size']:,} ids: {report['special_tokens']:,} "
                 f"special tokens and {report['pieces']:,} pieces" + _user_special(report))
    if "kind" in report:
        lines += _foreign_training(report)
    else:
        lines += _hints(report["hints"])
    return "\n".join(lines + _tables(report)) + "\n"


def _foreign_training(report: dict) -> list[str]:
    settings = report["training_settings"]
    if not settings:
        return ["training    settings not recorded (a tokenizer.json holds the vocabulary only)"]
    shown = ", ".join(f"{k} {v}" for k, v in settings.items() if not isinstance(v, bytes))
    return [f"training    settings recorded in the file: {shown}"]


def _hints(hints: dict) -> list[str]:
    smallest = hints["smallest_count_of_a_longer_piece"]
    lines = [
        "training    settings not recorded (a BytePiece model file holds pieces and counts "
        "only); the pieces tell:",
        f"            longest piece {hints['longest_piece_bytes']} bytes "
        f"(--max-piece-length was at least that)",
    ]
    if smallest is not None:
        lines.append(f"            smallest count of a piece of 2+ bytes {smallest:,} "
                     f"(--min-count was at most that)")
    lines.append(f"            {hints['longer_pieces_not_utf8']:,} pieces of 2+ bytes are not "
                 f"UTF-8 (--no-ensure-unicode lets pieces start inside a character)")
    return lines


def _tables(report: dict) -> list[str]:
    lines = ["", "piece length (bytes)  pieces"]
    histogram = report["length_histogram"]
    most = max(histogram.values(), default=1)
    for length, n in histogram.items():
        bar = "#" * max(1, round(30 * n / most))
        lines.append(f"{length:>20}  {n:>6,}  {bar}")
    share = "share of probability" if "kind" in report else "share of counts"
    lines += ["", f"{'script':<22}  {'pieces':>6}  {share}"]
    for name, entry in report["scripts"].items():
        value = "" if entry["count_share"] is None else f"{100 * entry['count_share']:>14.2f}%"
        lines.append(f"{name:<22}  {entry['pieces']:>6,}  {value}".rstrip())
    titles = (("longest pieces", "longest"), ("most frequent pieces", "most_frequent"))
    if "kind" in report:
        titles = (("longest pieces", "longest"), ("most probable pieces", "most_frequent"))
        if not report["most_frequent"]:
            lines += ["", "most probable pieces: none (a {} model holds no piece "
                          "probabilities)".format(report["model_type"])]
    for title, key in titles:
        entries = report[key]
        if not entries:
            continue
        column = "probability" if "kind" in report else "count"
        lines += ["", title, f"{'id':>7}  {'bytes':>5}  {column:>12}  piece"]
        for e in entries:
            value = f"{e['probability']:>12.6f}" if "probability" in e else \
                f"{e['count']:>12,}" if "count" in e else f"{'':>12}"
            lines.append(f"{e['id']:>7}  {e['bytes']:>5}  {value}  \"{e['piece']}\"")
    return lines
