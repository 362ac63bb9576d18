"""``bytepiece special``: list a model's special tokens, or add some to a copy of it."""

from __future__ import annotations

import sys

import click

from ._common import check_output, load_tokenizer


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", metavar="MODEL")
@click.option("--add", "add", metavar="TOKEN,...", default=None,
              help="Special tokens to add (comma-separated): they take the ids after the "
                   "last one, so no other id moves.")
@click.option("-o", "--output", metavar="NEW", default=None,
              help="With --add: where to write the new model (atomically).")
def command(model, add, output):
    """List the special tokens of MODEL (id and text), or, with --add, write a copy
    of MODEL with more of them to NEW (model format 2, which BytePiece 0.6.3
    still loads: there the tokens are ordinary text). A token must not be
    empty, repeated, or a piece of the model.

    \b
    Examples:
      bytepiece special model.json
      bytepiece special model.json --add '<|im_start|>,<|im_end|>' -o chat.json
    """
    from bytepiece.errors import InputError

    if add is None:
        if output is not None:
            raise click.UsageError("-o goes with --add")
        tokenizer = load_tokenizer(model, command="special")
        for name in ("<pad>", "<bos>", "<eos>"):
            click.echo(f"{tokenizer.piece_to_id(name)}\t{name}")
        for token, i in tokenizer.special_tokens.items():
            click.echo(f"{i}\t{token}")
        return
    if output is None:
        raise click.UsageError("--add needs -o NEW, the model to write")
    check_output(output, [model])
    tokenizer = load_tokenizer(model, command="special")
    try:
        ids = tokenizer.add_special_tokens(add.split(","))
    except InputError as e:
        raise click.BadParameter(str(e), param_hint="'--add'") from None
    tokenizer.save(output)
    sys.stderr.write(f"bytepiece: wrote {output}: {len(ids)} special tokens added, ids "
                     f"{ids[0]}..{ids[-1]}; {tokenizer.vocab_size} ids in all\n")
