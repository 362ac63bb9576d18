"""``bytepiece convert --to transformers``: the directory that transformers'
``AutoTokenizer.from_pretrained`` loads, checked with the real transformers (the test
extra installs it: never skipped) on the shipped corpora, on text holding special
tokens, and through ``apply_chat_template``."""

from __future__ import annotations

import json

import pytest
import tokenizers
import transformers

from bytepiece import Tokenizer
from bytepiece.convert.huggingface import to_huggingface_json
from bytepiece.convert.transformers import transformers_files
from bytepiece.model import Model
from conftest import CORPORA, FIXTURES, invoke_cli

BASE = FIXTURES / "train" / "mixed-o4-mc2-unlimited.json"   # 1069 pieces
TOKENS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<｜end of turn｜>"]
CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
          "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
MESSAGES = [{"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Wie heißt 東京 auf Englisch?\n\nKurz bitte."},
            {"role": "assistant", "content": "Tokyo.  <|endoftext|>"}]


def corpus_lines() -> list[str]:
    """Every line of the tiny corpora and the first 1000 lines of en, zh, code and mixed."""
    lines = []
    for path in sorted((CORPORA / "tiny").iterdir()):
        lines += path.read_bytes().decode("utf-8", errors="replace").splitlines(keepends=True)
    for name in ("en", "zh", "code", "mixed"):
        with open(CORPORA / f"{name}.txt", encoding="utf-8") as f:
            lines += [f.readline() for _ in range(1000)]
    return lines


LINES = corpus_lines()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The model with special tokens, its tokenizer and the directory `convert` wrote."""
    folder = tmp_path_factory.mktemp("tf")
    model_path = folder / "chat.json"
    Model.load(BASE).with_special_tokens(TOKENS).save(model_path)
    (folder / "chatml.jinja").write_text(CHATML, encoding="utf-8")
    result = invoke_cli(["convert", model_path, "--to", "transformers", folder / "hf",
                         "--chat-template", folder / "chatml.jinja"])
    assert result.exit_code == 0, result.stderr
    hf = transformers.AutoTokenizer.from_pretrained(str(folder / "hf"))
    return Tokenizer(model_path), hf, folder


def test_directory_files(exported):
    tokenizer, hf, folder = exported
    names = sorted(p.name for p in (folder / "hf").iterdir())
    assert names == ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    files = transformers_files(Model.load(folder / "chat.json"), CHATML)
    for name in names:
        assert (folder / "hf" / name).read_bytes() == files[name]
    config = json.loads((folder / "hf" / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert config["chat_template"] == CHATML
    added = json.loads((folder / "hf" / "tokenizer.json").read_text())["added_tokens"]
    assert [(a["id"], a["content"]) for a in added] == \
        [(0, "<pad>"), (1, "<bos>"), (2, "<eos>")] + \
        [(i, t) for t, i in tokenizer.special_tokens.items()]
    assert all(a["special"] and not a["normalized"] for a in added)
    assert (hf.pad_token_id, hf.bos_token_id, hf.eos_token_id) == (0, 1, 2)
    assert len(hf) == tokenizer.vocab_size
    assert set(TOKENS) <= set(hf.all_special_tokens)
    assert hf.convert_tokens_to_ids("<|im_end|>") == tokenizer.piece_to_id("<|im_end|>")


def test_autotokenizer_gives_bytepiece_ids_on_the_corpora(exported):
    tokenizer, hf, _ = exported
    ours = tokenizer.encode_batch(LINES)
    theirs = hf(LINES)["input_ids"]  # the defaults add no <bos> or <eos>, as bytepiece
    differ = [k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    assert differ == [], [LINES[k] for k in differ[:3]]
    assert [hf.decode(ids) for ids in theirs[:500]] == \
        [tokenizer.decode(ids) for ids in ours[:500]]


def test_autotokenizer_reads_special_tokens_as_bytepiece_with_all(exported):
    tokenizer, hf, _ = exported
    texts = [f"<|im_start|>{('user', 'assistant')[k % 2]}\n{line}<|im_end|>\n"
             for k, line in enumerate(LINES[:400])]
    texts += ["".join(TOKENS) * 2, "a<|im_end|>b<｜end of turn｜> c", "<|im_start",
              "e\u0301<|im_end|>"]
    ours = tokenizer.encode_batch(texts, allowed_special="all")
    assert [hf.encode(t, add_special_tokens=False) for t in texts] == ours
    assert [hf.decode(ids) for ids in ours] == [tokenizer.decode(ids) for ids in ours]
    nfc = [tokenizer.decode(tokenizer.encode(t)) for t in texts]
    assert [hf.decode(ids) for ids in ours] == nfc  # the text back (NFC)


def test_apply_chat_template(exported):
    tokenizer, hf, _ = exported
    rendered = hf.apply_chat_template(MESSAGES, tokenize=False, add_generation_prompt=True)
    assert rendered == "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n"
                               for m in MESSAGES) + "<|im_start|>assistant\n"
    out = hf.apply_chat_template(MESSAGES, tokenize=True, add_generation_prompt=True)
    ids = out if isinstance(out, list) else out["input_ids"]   # transformers 4 / 5
    assert ids == tokenizer.encode(rendered, allowed_special="all")
    assert ids.count(tokenizer.piece_to_id("<|im_start|>")) == 4
    assert hf.decode(ids) == rendered


def test_tokenizer_json_alone_holds_the_special_tokens(exported, tmp_path):
    """`--to huggingface`: the user special tokens are added tokens there too."""
    tokenizer, _, folder = exported
    path = tmp_path / "tokenizer.json"
    path.write_bytes(to_huggingface_json(Model.load(folder / "chat.json")))
    hf = tokenizers.Tokenizer.from_file(str(path))
    text = "<|im_start|>user\nhi<|im_end|>\n<bos>"
    assert hf.encode(text).ids == tokenizer.encode(text, allowed_special="all")
    assert hf.get_vocab_size() == tokenizer.vocab_size
