"""``bytepiece inspect``: what a model's vocabulary holds, as text or JSON."""

from __future__ import annotations

import json

import click

from ._common import not_bytepiece


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", metavar="MODEL")
@click.option("--top", type=click.IntRange(min=0), default=20, show_default=True,
              help="How many of the longest and of the most frequent pieces to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(model, top, as_json):
    """Describe a bytepiece MODEL: its size, piece lengths, longest and most
    frequent pieces, pieces by script, and what it tells of its training.

    Pieces are shown as text where they are UTF-8, other bytes as \\xHH (with
    backslash, newline, tab and CR escaped). Scripts: CJK, Latin, digits,
    punctuation and space, other or mixed, and partial UTF-8 (pieces that are
    not whole characters); a piece's punctuation and spaces go with its letters.

    \b
    Examples:
      bytepiece inspect model.json
      bytepiece inspect model.json --top 50
      bytepiece inspect model.json --json | jq .scripts
    """
    from bytepiece.errors import BytePieceError
    from bytepiece.evaluate_models import model_kind
    from bytepiece.model import Model
    from bytepiece.vocab_report import vocab_report

    try:
        if model_kind(model) != "bytepiece":
            raise not_bytepiece(model, "inspect")
        report = vocab_report(Model.load(model), top)
    except BytePieceError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(_text(report, model), nl=False)


def _user_special(report: dict) -> str:
    """The user special tokens for the vocabulary line (model format 2), or nothing."""
    tokens = report["user_special_tokens"]
    if not tokens:
        return ""
    shown = ", ".join(f"{json.dumps(t, ensure_ascii=False)} {i}" for t, i in tokens.items())
    return (f", then {len(tokens)} user special tokens (model format "
            f"{report['format_version']}): {shown}")


def _text(report: dict, model: str) -> str:
    """The report as aligned plain text."""
    hints = report["hints"]
    smallest = hints["smallest_count_of_a_longer_piece"]
    lines = [
        f"model       {model}",
        f"vocabulary  {report['vocab_size']:,} ids: {report['special_tokens']} special tokens "
        f"and {report['pieces']:,} pieces" + _user_special(report),
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
    lines += ["", "piece length (bytes)  pieces"]
    histogram = report["length_histogram"]
    most = max(histogram.values(), default=1)
    for length, n in histogram.items():
        bar = "#" * max(1, round(30 * n / most))
        lines.append(f"{length:>20}  {n:>6,}  {bar}")
    lines += ["", f"{'script':<22}  {'pieces':>6}  share of counts"]
    for name, entry in report["scripts"].items():
        lines.append(f"{name:<22}  {entry['pieces']:>6,}  {100 * entry['count_share']:>14.2f}%")
    for title, key in (("longest pieces", "longest"), ("most frequent pieces", "most_frequent")):
        entries = report[key]
        if not entries:
            continue
        lines += ["", title,
                  f"{'id':>7}  {'bytes':>5}  {'count':>12}  piece"]
        for e in entries:
            lines.append(f"{e['id']:>7}  {e['bytes']:>5}  {e['count']:>12,}  \"{e['piece']}\"")
    return "\n".join(lines) + "\n"
