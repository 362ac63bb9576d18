"""``bytepiece convert``: models to and from SentencePiece and Hugging Face formats."""

from __future__ import annotations

import json
import os
import sys

import click

from ._common import check_output, not_bytepiece, open_output


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("source", metavar="MODEL")
@click.argument("output", metavar="OUT")
@click.option("--to", "to_format",
              type=click.Choice(["sentencepiece", "huggingface", "transformers"]),
              default=None, help="Convert the bytepiece MODEL to this format (transformers: "
                                 "OUT is a directory).")
@click.option("--from", "from_format", type=click.Choice(["sentencepiece"]), default=None,
              help="Convert MODEL from this format to a bytepiece model.")
@click.option("--id-map", metavar="FILE", default=None,
              help="With --from: write a JSON list mapping each of MODEL's ids to the "
                   "bytepiece id (null where there is none, e.g. <unk>).")
@click.option("--chat-template", metavar="FILE", default=None,
              help="With --to transformers: a Jinja chat template (e.g. ChatML) for "
                   "tokenizer_config.json, used by apply_chat_template.")
def command(source, output, to_format, from_format, id_map, chat_template):
    """Convert a model between bytepiece and other tokenizer libraries.

    --to sentencepiece writes a SentencePiece unigram model (byte fallback, no
    normalization) that gives bytepiece's ids; --to huggingface writes a
    tokenizer.json for the tokenizers library (and transformers'
    PreTrainedTokenizerFast); --to transformers writes a directory that
    transformers' AutoTokenizer.from_pretrained loads (tokenizer.json,
    tokenizer_config.json, special_tokens_map.json); --from sentencepiece reads
    a SentencePiece unigram model. Neither library is needed to convert. A
    model's special tokens become added tokens in Hugging Face formats, read in
    text as bytepiece reads them with --special all.

    \b
    Examples:
      bytepiece convert model.json --to sentencepiece model.model
      bytepiece convert model.json --to huggingface tokenizer.json
      bytepiece convert chat.json --to transformers hf-dir/ --chat-template chatml.jinja
      bytepiece convert --from sentencepiece sp.model model.json --id-map ids.json
    """
    if (to_format is None) == (from_format is None):
        raise click.UsageError("give exactly one of --to FORMAT and --from FORMAT")
    if id_map is not None and from_format is None:
        raise click.UsageError("--id-map goes with --from")
    if chat_template is not None and to_format != "transformers":
        raise click.UsageError("--chat-template goes with --to transformers")
    if to_format == "transformers":
        return _to_transformers(source, output, chat_template)
    check_output(output, [source])
    if id_map is not None:
        check_output(id_map, [source, output])
        if os.path.abspath(id_map) == os.path.abspath(output):
            raise click.UsageError("--id-map and OUT name the same file")
    if to_format is not None:
        _from_bytepiece(source, output, to_format)
    else:
        _to_bytepiece(source, output, id_map)


def _from_bytepiece(source: str, output: str, to_format: str) -> None:
    from bytepiece.errors import BytePieceError
    from bytepiece.model import Model

    try:
        model = Model.load(source)
    except BytePieceError as e:
        raise not_bytepiece(source, f"convert --to {to_format}") or \
            click.ClickException(str(e)) from None
    if to_format == "sentencepiece":
        from bytepiece.convert.sentencepiece import to_sentencepiece

        if model.special_tokens:
            raise click.ClickException(
                f"model {source} has special tokens ({len(model.special_tokens)}), which a "
                f"SentencePiece model from bytepiece does not hold yet: convert it --to "
                f"huggingface or --to transformers")

        data = to_sentencepiece(model)
        summary = (f"SentencePiece unigram model: ids 0..{len(model) + 2} as in {source}, "
                   f"then 127 byte pieces and <unk> that bytepiece has no ids for")
        unusable = sum(1 for p in model.pieces if len(p) > 1 and not _sentencepiece_text(p))
        if unusable:
            _note(f"{unusable} pieces are not UTF-8 or hold a NUL and cannot be SentencePiece "
                  f"pieces (kept as UNUSED placeholders): SentencePiece segments text that "
                  f"bytepiece covers with them differently")
    else:
        from bytepiece.convert.huggingface import inexact_scores, to_huggingface_json

        data = to_huggingface_json(model)
        summary = f"tokenizers Unigram model over ByteLevel characters, ids as in {source}"
        inexact = inexact_scores(model)
        if inexact:
            _note(f"{inexact} scores cannot be written so that tokenizers reads them exactly "
                  f"(they are one ulp off): segmentations that tie exactly in bytepiece "
                  f"may be broken differently where these pieces take part")
    _write(output, data)
    _note(f"wrote {output}: {summary}")


def _to_transformers(source: str, folder: str, chat_template: str | None) -> None:
    """``--to transformers``: the files of ``convert.transformers``, each written
    atomically into ``folder`` (made if missing; other files in it are left alone)."""
    from bytepiece.convert.transformers import transformers_files
    from bytepiece.errors import BytePieceError
    from bytepiece.model import Model

    try:
        model = Model.load(source)
    except BytePieceError as e:
        raise not_bytepiece(source, "convert --to transformers") or \
            click.ClickException(str(e)) from None
    template = None
    if chat_template is not None:
        try:
            with open(chat_template, encoding="utf-8") as f:
                template = f.read()
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or "not UTF-8 text"
            raise click.ClickException(f"chat template {chat_template}: cannot read: "
                                       f"{reason}") from None
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise click.ClickException(f"{folder} is a file: --to transformers writes a directory")
    files = transformers_files(model, template)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise click.ClickException(f"cannot make {folder}: {e.strerror or e}") from None
    for name in files:
        check_output(os.path.join(folder, name), [source])
    for name, data in files.items():
        _write(os.path.join(folder, name), data)
    extra = f", {len(model.special_tokens)} special tokens" if model.special_tokens else ""
    chat = ", a chat template" if template is not None else ""
    _note(f"wrote {folder}: {', '.join(files)} for transformers' AutoTokenizer "
          f"(PreTrainedTokenizerFast; ids as in {source}{extra}{chat})")


def _to_bytepiece(source: str, output: str, id_map: str | None) -> None:
    from bytepiece.convert.sentencepiece import from_sentencepiece
    from bytepiece.model_file import read_model_file

    conversion = from_sentencepiece(read_model_file(source), source)
    for note in conversion.notes:
        _note(note)
    model = conversion.model
    _write(output, json.dumps(model.to_dict(), indent=4, ensure_ascii=False).encode())
    if id_map is not None:
        _write(id_map, json.dumps(conversion.id_map).encode() + b"\n")
    same = sum(1 for sp_id, bp_id in enumerate(conversion.id_map) if sp_id == bp_id)
    _note(f"wrote {output}: {len(model)} pieces from {len(conversion.id_map)} SentencePiece "
          f"pieces; {same} ids are the same in both"
          + ("" if id_map else " (--id-map FILE writes the map)"))


def _write(path: str, data: bytes) -> None:
    with open_output(path) as out:
        out.write(data)


def _sentencepiece_text(piece: bytes) -> bool:
    try:
        return "\x00" not in piece.decode("utf-8")
    except UnicodeDecodeError:
        return False


def _note(message: str) -> None:
    sys.stderr.write(f"bytepiece: {message}\n")
