"""User special tokens: the model file (format 2, and what BytePiece 0.6.3 makes of it),
ids and look-ups, encoding with ``allowed_special`` against a slow reference, training,
pickling, and the commands (train, special, encode, inspect)."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bytepiece import InputError, ModelError, Tokenizer, Trainer
from bytepiece.model import Model
from conftest import CORPORA, FIXTURES, invoke_cli

SMALL = FIXTURES / "models" / "ref-small.json"
CHAT_MODEL = FIXTURES / "special" / "chat-small.json"
REFERENCE = FIXTURES / "special" / "reference.json.gz"
TOKENS = ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<｜end of turn｜>"]


@pytest.fixture(scope="module")
def chat():
    return Tokenizer(CHAT_MODEL)


@pytest.fixture(scope="module")
def plain():
    return Tokenizer(SMALL)


def chat_lines(n: int = 60) -> list[str]:
    """Lines of the tiny corpora in ChatML, with the tokens in odd places too."""
    lines = []
    for name in ("en.txt", "zh.txt", "code.py", "unicode-edge.txt"):
        text = (CORPORA / "tiny" / name).read_text(encoding="utf-8")
        for k, line in enumerate(text.splitlines()[:n // 4]):
            lines.append(f"<|im_start|>{('user', 'assistant')[k % 2]}\n{line}<|im_end|>\n")
    return lines + ["".join(TOKENS), "<|im_start|><|im_start|>", "<|im", "a<|endoftext|",
                    "e\u0301<|im_end|>\u0301", "", "<|im_end|>\n\n<|im_start|>"]


def reference_encode(tokenizer: Tokenizer, text: str, allowed) -> list[int]:
    """Slow and obvious: at each character, the longest allowed token that starts there
    is taken whole; the text between tokens is encoded on its own."""
    tokens = sorted(allowed, key=len, reverse=True)
    ids: list[int] = []
    start = i = 0
    while i < len(text):
        token = next((t for t in tokens if text.startswith(t, i)), None)
        if token is None:
            i += 1
            continue
        ids += tokenizer.encode(text[start:i]) + [tokenizer.piece_to_id(token)]
        i = start = i + len(token)
    return ids + tokenizer.encode(text[start:])


# -- the model file -----------------------------------------------------------------

def test_format_2_entries_and_ids(plain, tmp_path):
    """Special tokens take the ids after the last piece, as entries of count 0 whose key
    is base64 of the token's UTF-8 and 0xff; the fixture is what bytepiece writes."""
    tokenizer = Tokenizer(SMALL)
    ids = tokenizer.add_special_tokens(TOKENS)
    assert ids == list(range(plain.vocab_size, plain.vocab_size + 4))
    tokenizer.save(tmp_path / "chat.json")
    raw = (tmp_path / "chat.json").read_bytes()
    assert raw == CHAT_MODEL.read_bytes()
    assert Model.load(SMALL).with_special_tokens(TOKENS).to_json() == raw
    entries = json.loads(raw)
    for k, token in enumerate(TOKENS):
        key = base64.b64encode(token.encode() + b"\xff").decode()
        assert entries[key] == [plain.vocab_size + k, token, 0]
    # every piece keeps its entry, id and count
    plain_entries = json.loads(SMALL.read_bytes())
    assert {k: v for k, v in entries.items() if v[2] > 0} == plain_entries
    model = Model.load(CHAT_MODEL)
    assert model.format_version == 2 and Model.load(SMALL).format_version == 1
    assert model.special_tokens == tuple(TOKENS)


def test_bytepiece_063_reads_format_2_as_ordinary_text(chat, plain):
    """The outputs of BytePiece 0.6.3 loading the fixture (make_special_fixture.py): the
    same vocabulary size, the ids bytepiece gives with the tokens disallowed (those of
    the model without them), their text from decode, and sampling unharmed."""
    with gzip.open(REFERENCE, "rt", encoding="utf-8") as f:
        ref = json.load(f)
    assert ref["vocab_size"] == chat.vocab_size == plain.vocab_size + 4
    assert ref["load_warnings"] == ["divide by zero encountered in log"]
    assert sum(any(t in line for t in TOKENS) for line in ref["lines"]) >= 60
    assert [chat.encode(line) for line in ref["lines"]] == ref["ids"]
    assert [plain.encode(line) for line in ref["lines"]] == ref["ids"]
    assert ref["decode_special"] == {str(i): t for t, i in chat.special_tokens.items()}
    assert ref["sampled_round_trip"] is True


@pytest.mark.parametrize("change, message", [
    (lambda e, k: e[k].__setitem__(0, 5), "special token '<|im_start|>' has id 5, before a piece"),
    (lambda e, k: e[k].__setitem__(1, "other"), "count 0 is not a positive count"),
    (lambda e, k: e.__setitem__(base64.b64encode(b"<|im_start|>").decode(), e.pop(k)),
     "count 0 is not a positive count"),
])
def test_bad_special_entries_are_refused(tmp_path, change, message):
    entries = json.loads(CHAT_MODEL.read_bytes())
    key = base64.b64encode("<|im_start|>".encode() + b"\xff").decode()
    if "before a piece" in message:  # swap ids with a piece
        other = next(k for k, v in entries.items() if v[0] == 5)
        entries[other][0] = entries[key][0]
    change(entries, key)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(entries))
    with pytest.raises(ModelError, match=re.escape(message)):
        Tokenizer(path)


# -- look-ups ----------------------------------------------------------------------------

def test_lookups_know_the_special_tokens(chat, plain):
    n = plain.vocab_size
    assert chat.vocab_size == len(chat) == n + 4
    assert chat.special_tokens == {t: n + k for k, t in enumerate(TOKENS)}
    for k, token in enumerate(TOKENS):
        assert chat.piece_to_id(token) == chat.piece_to_id(token.encode()) == n + k
        assert chat.id_to_piece(n + k) == token
    assert chat.id_to_piece(n - 1) == plain.id_to_piece(n - 1)
    assert list(chat)[:n] == list(plain) and list(chat)[n:] == TOKENS
    vocab = chat.vocab()
    assert len(vocab) == chat.vocab_size and vocab["<|im_end|>"] == n + 1
    assert chat.decode([n, 75, n + 3]) == "<|im_start|>" + chat.decode([75]) + "<｜end of turn｜>"
    assert chat.decode_bytes([1, n + 2, 2]) == b"<|endoftext|>"
    with pytest.raises(InputError, match="out of range"):
        chat.id_to_piece(n + 4)


# -- encoding ----------------------------------------------------------------------------

def test_none_is_ordinary_text_as_before(chat, plain):
    lines = chat_lines()
    assert [chat.encode(line) for line in lines] == [plain.encode(line) for line in lines]
    assert chat.encode_batch(lines, num_threads=2) == plain.encode_batch(lines)
    assert chat.encode_batch(lines, allowed_special=set()) == plain.encode_batch(lines)
    ours = chat.encode_batch(lines, offsets=True, allowed_special="none")
    theirs = plain.encode_batch(lines, offsets=True)
    assert all(a == c and np.array_equal(b, d) for (a, b), (c, d) in zip(ours, theirs))


@pytest.mark.parametrize("allowed", ["all", {"<|im_end|>"}, {"<|im_start|>", "<|endoftext|>"}])
def test_allowed_tokens_match_the_slow_reference(chat, allowed):
    lines = chat_lines()
    tokens = TOKENS if allowed == "all" else allowed
    want = [reference_encode(chat, line, tokens) for line in lines]
    assert [chat.encode(line, allowed_special=allowed) for line in lines] == want
    for threads in (1, 2):
        assert chat.encode_batch(lines, num_threads=threads, allowed_special=allowed) == want
    with_ends = chat.encode_batch(lines, add_bos=True, add_eos=True, allowed_special=allowed)
    assert with_ends == [[1] + ids + [2] for ids in want]
    assert [chat.decode(ids) for ids in want] == [chat.decode(chat.encode(line))
                                                  for line in lines]  # the NFC text


def test_longest_token_first_and_never_split():
    tokenizer = Tokenizer(SMALL)
    short, long = tokenizer.add_special_tokens(["<|im", "<|im_start|>"])
    ids = tokenizer.encode("<|im_start|><|im_end|>", allowed_special="all")
    assert ids[0] == long and ids[1] == short and tokenizer.decode(ids) == "<|im_start|><|im_end|>"
    assert tokenizer.encode("<|im_start|>", allowed_special={"<|im"})[0] == short


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS + ["<|", "|>", "im_", "a", " ", "\n", "é", "e\u0301",
                                          "中", "\u0301", "<", "｜"]), max_size=30))
def test_any_mix_of_tokens_and_text(chat, parts):
    text = "".join(parts)
    want = reference_encode(chat, text, TOKENS)
    assert chat.encode(text, allowed_special="all") == want
    [(ids, spans)] = chat.encode_batch([text], offsets=True, allowed_special="all")
    assert ids == want
    # a token's offsets are its characters; the others are those of its segment's tokens
    for i, (a, b) in zip(ids, spans.tolist()):
        if i in chat.special_tokens.values():
            assert text[a:b] == chat.id_to_piece(i)
    assert spans.shape == (len(ids), 2) and (spans[:, 0] <= spans[:, 1]).all()
    assert (np.diff(spans[:, 0]) >= 0).all() and (spans[:, 1] <= len(text)).all()


def test_offsets_of_special_tokens(chat):
    text = "<|im_start|>user\nnaïve<|im_end|>"
    ids, spans = chat.encode_with_offsets(text, add_bos=True, add_eos=True,
                                          allowed_special="all")
    assert ids == [1] + reference_encode(chat, text, TOKENS) + [2]
    assert spans[0].tolist() == [0, 0] and spans[-1].tolist() == [len(text), len(text)]
    assert spans[1].tolist() == [0, 12] and spans[-2].tolist() == [len(text) - 10, len(text)]
    inner = chat.encode_with_offsets("user\nnaïve")[1] + 12
    assert np.array_equal(spans[2:-2], inner)
    batch = chat.encode_batch([text, "x"], offsets=True, add_bos=True, add_eos=True,
                              allowed_special="all", num_threads=2)
    assert batch[0][0] == ids and np.array_equal(batch[0][1], spans)


def test_tokenize_and_sampling_with_specials(chat):
    text = "<|im_start|>hello<|im_end|>"
    assert chat.tokenize(text, allowed_special="all")[0] == b"<|im_start|>"
    sampler = Tokenizer(CHAT_MODEL, seed=3)
    for _ in range(5):
        ids = sampler.encode(text, alpha=0.5, allowed_special="all")
        assert ids[0] == chat.special_tokens["<|im_start|>"] and chat.decode(ids) == text


@pytest.mark.parametrize("allowed, message", [
    ({"<|nope|>"}, "'<|nope|>' is not a special token of this model"),
    ("some", "allowed_special must be 'all', 'none' or a set"),
    (3, "allowed_special must be 'all', 'none' or a set"),
])
def test_bad_allowed_special(chat, allowed, message):
    for call in (lambda: chat.encode("x", allowed_special=allowed),
                 lambda: chat.encode_batch(["x"], allowed_special=allowed),
                 lambda: chat.encode_with_offsets("x", allowed_special=allowed)):
        with pytest.raises(InputError, match=re.escape(message)):
            call()


# -- adding tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("tokens, message", [
    ([""], "a special token cannot be empty"),
    (["<|a|>", "<|a|>"], "special token '<|a|>' is given twice"),
    (["<|im_end|>"], "special token '<|im_end|>' is given twice (or is already one)"),
    ([b"<\xff>"], "special token b'<\\xff>' is not UTF-8"),
    (["<\udc80>"], "is not UTF-8 (it holds a lone surrogate)"),
    (["the"], "special token 'the' is a piece of the model"),
    (["x"], "is a single byte, which every model has as a piece"),
    (["<eos>"], "special token '<eos>' is already the name of id 2"),
    ("<|a|>", "special tokens must be a list of str, got a single str"),
    ([3], "a special token must be a str, got int"),
])
def test_bad_special_tokens_are_refused(tokens, message):
    tokenizer = Tokenizer(CHAT_MODEL)
    assert tokenizer.piece_to_id(b"the") > 2  # a piece of the model
    before = tokenizer.vocab_size
    with pytest.raises(InputError, match=re.escape(message)):
        tokenizer.add_special_tokens(tokens)
    assert tokenizer.vocab_size == before  # nothing half-added
    with pytest.raises(InputError):
        Trainer(special_tokens=tokens if tokens not in (["the"], ["<|im_end|>"]) else [""])


def test_added_tokens_keep_the_tokenizer_working(plain):
    tokenizer = Tokenizer(SMALL, seed=5)
    lines = chat_lines()
    before = tokenizer.encode_batch(lines)
    tokenizer.add_special_tokens(["<|im_start|>"])
    assert tokenizer.encode_batch(lines) == before
    assert tokenizer.add_special_tokens(["<|im_end|>"]) == [plain.vocab_size + 1]
    assert tokenizer.encode("<|im_end|>", allowed_special="all") == [plain.vocab_size + 1]


# -- pickling and the cache -----------------------------------------------------------------

def test_pickled_and_cached_tokenizers_keep_their_special_tokens(tmp_path):
    tokenizer = Tokenizer(SMALL, seed=1)
    tokenizer.add_special_tokens(["<|im_start|>", "<|im_end|>"])
    copy = pickle.loads(pickle.dumps(tokenizer))
    lines = chat_lines()
    assert copy.special_tokens == tokenizer.special_tokens
    assert copy.encode_batch(lines, allowed_special="all") == \
        tokenizer.encode_batch(lines, allowed_special="all")
    tokenizer.save(tmp_path / "m.json")
    first, second = Tokenizer(tmp_path / "m.json"), Tokenizer(tmp_path / "m.json")  # cached
    assert first.special_tokens == second.special_tokens == tokenizer.special_tokens


# -- training -------------------------------------------------------------------------------

def training_texts() -> list[str]:
    text = (CORPORA / "tiny" / "en.txt").read_text(encoding="utf-8")
    return [f"<|im_start|>user\n{line}<|im_end|>\n<|endoftext|>" for line in text.splitlines()]


def test_training_cuts_the_tokens_out_of_the_corpus():
    """The model is the one trained on the text between the tokens; no piece holds a
    token's text, and the tokens take the ids after the last piece."""
    texts = training_texts() * 2
    tokens = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    trainer = Trainer(order=4, max_vocab_size=[400, 300], min_count=2, special_tokens=tokens)
    trainer.train(texts)
    cut = [part for text in texts for part in
           text.replace("<|im_end|>", "\0").replace("<|im_start|>", "\0")
           .replace("<|endoftext|>", "\0").split("\0") if part]
    plain = Trainer(order=4, max_vocab_size=[400, 300], min_count=2)
    plain.train(cut)
    assert trainer.pieces == plain.pieces
    without = Trainer(order=4, max_vocab_size=400, min_count=2)
    without.train(texts)
    assert any(b"<|im_start|>" in p for p in without.pieces[0])  # else this proves nothing
    for model in trainer.models():
        assert model.special_tokens == tuple(tokens)
        assert not any(t.encode() in p for p in model.pieces for t in tokens)
        tokenizer = Tokenizer(model)
        assert tokenizer.special_tokens["<|im_start|>"] == len(model.pieces) + 3


def test_special_tokens_need_local_training():
    trainer = Trainer(order=4, max_vocab_size=300, special_tokens=["<|a|>"])
    with pytest.raises(InputError, match="on a cluster"):
        trainer.train(["x"], cluster="tcp://nowhere:1")


# -- the commands ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chat_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("chat") / "chat.txt"
    path.write_text("".join(chat_lines()), encoding="utf-8")
    return path


def file_lines(path) -> list[str]:
    parts = path.read_text(encoding="utf-8").split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def test_train_command_with_special_tokens(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(training_texts()) + "\n", encoding="utf-8")
    out = tmp_path / "m.json"
    result = invoke_cli(["train", corpus, "-o", out, "--vocab-size", "400", "--order", "4",
                         "--special-tokens", "<|im_start|>,<|im_end|>"])
    assert result.exit_code == 0, result.stderr
    model = Model.load(out)
    assert model.special_tokens == ("<|im_start|>", "<|im_end|>")
    assert "(3 special tokens, 2 of yours and " in result.stderr
    assert not any(b"<|im_" in p for p in model.pieces)


def test_special_command_lists_and_adds(tmp_path):
    out = tmp_path / "chat.json"
    result = invoke_cli(["special", SMALL, "--add", ",".join(TOKENS), "-o", out])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() == CHAT_MODEL.read_bytes()
    assert "4 special tokens added, ids 1000..1003" in result.stderr
    listed = invoke_cli(["special", out])
    assert listed.stdout == "0\t<pad>\n1\t<bos>\n2\t<eos>\n" + "".join(
        f"{1000 + k}\t{t}\n" for k, t in enumerate(TOKENS))


@pytest.mark.parametrize("fmt", ["ids", "pieces", "jsonl"])
@pytest.mark.parametrize("special", ["all", "none", "<|im_end|>,<|endoftext|>"])
def test_encode_command_special(chat, chat_file, fmt, special):
    allowed = special if special in ("all", "none") else set(special.split(","))
    want = chat.encode_batch(file_lines(chat_file), allowed_special=allowed)
    result = invoke_cli(["encode", "-m", CHAT_MODEL, "--special", special, "--format", fmt,
                         "--bos", chat_file])
    assert result.exit_code == 0, result.stderr
    out = result.stdout.splitlines()
    if fmt == "ids":
        assert [list(map(int, line.split())) for line in out] == [[1] + w for w in want]
    elif fmt == "jsonl":
        assert [json.loads(line)["ids"] for line in out] == [[1] + w for w in want]
    else:
        decoded = invoke_cli(["decode", "-m", CHAT_MODEL, "--format", "pieces"],
                             input=result.stdout_bytes)
        assert decoded.stdout == "".join(chat.decode(w) for w in want)
        if special == "all":
            assert out[0].split(" ")[:2] == ["<bos>", "<|im_start|>"]


def test_encode_command_special_offsets_and_arrays(chat, chat_file, tmp_path):
    lines = file_lines(chat_file)
    result = invoke_cli(["encode", "-m", CHAT_MODEL, "--special", "all", "--format", "jsonl",
                         "--offsets", "--eos", chat_file])
    assert result.exit_code == 0, result.stderr
    want = chat.encode_batch(lines, offsets=True, add_eos=True, allowed_special="all")
    got = [json.loads(line) for line in result.stdout.splitlines()]
    assert [g["ids"] for g in got] == [w[0] for w in want]
    assert [g["offsets"] for g in got] == [w[1].tolist() for w in want]
    flat = [i for ids in chat.encode_batch(lines, add_eos=True, allowed_special="all")
            for i in ids]
    for fmt in ("npy", "bin"):
        out = tmp_path / f"t.{fmt}"
        result = invoke_cli(["encode", "-m", CHAT_MODEL, "--special", "all", "--format", fmt,
                             "--eos", "-o", out, chat_file])
        assert result.exit_code == 0, result.stderr
        array = np.load(out) if fmt == "npy" else np.fromfile(out, np.uint16)
        assert array.tolist() == flat
        back = invoke_cli(["decode", "-m", CHAT_MODEL, "--format", fmt, out])
        assert back.stdout == "".join(chat.decode(ids) for ids in
                                      chat.encode_batch(lines, allowed_special="all"))


def test_encode_command_few_lines(chat):
    """A few lines from stdin (the start-up path without numpy when the model is cached):
    the tokens are text without --special, tokens with it."""
    text = "<|im_start|>user\nhi<|im_end|>\n"
    for args, allowed in (([], "none"), (["--special", "all"], "all")):
        for _ in range(2):  # the second run finds the model in the cache
            result = invoke_cli(["encode", "-m", CHAT_MODEL, *args], input=text.encode())
            assert result.exit_code == 0, result.stderr
            want = chat.encode_batch(["<|im_start|>user\n", "hi<|im_end|>\n"],
                                     allowed_special=allowed)
            assert result.stdout == "".join(" ".join(map(str, w)) + "\n" for w in want)


def test_encode_command_special_refuses_cluster(chat_file, tmp_path):
    result = invoke_cli(["encode", "-m", CHAT_MODEL, "--special", "all", "--format", "npy",
                         "-o", tmp_path / "out", "--cluster", "tcp://nowhere:1", chat_file])
    assert result.exit_code == 2
    assert result.stderr == ("bytepiece: error: --cluster encodes without special tokens: "
                             "--special is not supported with it (see 'bytepiece encode "
                             "--help')\n")
    assert not (tmp_path / "out").exists()


def test_inspect_shows_special_tokens():
    result = invoke_cli(["inspect", CHAT_MODEL])
    assert "then 4 user special tokens (model format 2): \"<|im_start|>\" 1000" in result.stdout
    report = json.loads(invoke_cli(["inspect", "--json", CHAT_MODEL]).stdout)
    assert report["format_version"] == 2 and report["vocab_size"] == 1004
    assert report["user_special_tokens"] == {t: 1000 + k for k, t in enumerate(TOKENS)}
