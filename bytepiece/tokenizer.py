"""The public ``Tokenizer``: BytePiece-compatible unigram encoding and decoding.

Python validates and converts; numba kernels segment whole buffers of many
texts at once (``_kernels.best_path`` for the best segmentation,
``_kernels.viterbi`` for sampling); ids come back as numpy arrays and are
turned into lists once per call.
"""

from __future__ import annotations

import codecs
import gc
import os
import threading
import unicodedata
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from .errors import InputError
from .model import N_SPECIAL, SPECIAL_TOKENS, Model
from . import small
from .normalize import nfc
from .special import encode_split, pattern_of
from .cache import compile_model, load_compiled, load_compiled_bytes

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ThreadPoolExecutor

PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
_NO_SEED = np.uint64(0)
#: Bytes a Tokenizer segments in plain Python before it loads its numba kernel (see
#: ``small.SMALL_BUDGET``).
SMALL_BUDGET = small.SMALL_BUDGET


class Tokenizer:
    """A unigram tokenizer over bytes, loaded from a BytePiece model.

    >>> tokenizer = Tokenizer.from_file("model.json")
    >>> tokenizer
    Tokenizer('model.json', vocab_size=999)
    >>> tokenizer.encode("Hello world")
    [75, 524, 114, 895]
    >>> tokenizer.tokenize("Hello world")
    [b'H', b'ell', b'o', b' world']
    >>> tokenizer.decode([75, 524, 114, 895])
    'Hello world'
    >>> tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id
    (0, 1, 2)
    """

    #: Ids of the special tokens ``<pad>``, ``<bos>``, ``<eos>`` (the same in every model).
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __init__(self, model: str | os.PathLike | dict | Model, seed: int | None = None
                 ) -> None:
        if isinstance(model, (Model, dict)):
            model = model.check() if isinstance(model, Model) else Model.from_dict(model)
            self._setup(model, compile_model(model), seed)
        elif isinstance(model, (str, os.PathLike)):
            self._setup(*load_compiled(model), seed)
        else:
            raise InputError(f"expected a model file path, a pieces dict or a Model, "
                             f"got {type(model).__name__}")

    def _setup(self, model: Model, trie, seed: int | None) -> None:
        self._model, self._trie = model, trie
        # the numba kernels, loaded by the first input too large for Python (or once
        # SMALL_BUDGET bytes went through Python): for buffers, and for one text
        self._segment = None
        self._best_text = None
        self._small_budget = SMALL_BUDGET
        self._id_to_bytes = [b""] * N_SPECIAL + model.pieces + [
            t.encode() for t in model.special_tokens]
        first = N_SPECIAL + len(model.pieces)
        self._special_ids = {t: first + k for k, t in enumerate(model.special_tokens)}
        self._patterns: dict[frozenset, object] = {}  # allowed tokens -> their pattern
        self._piece_to_id_map: dict | None = None
        self._table: tuple[np.ndarray, np.ndarray] | None = None
        self._piece_chars: tuple | None = None  # per id, for offsets (piece_char_tables)
        self._objects: np.ndarray | None = None  # one int object per id
        self._model_json: bytes | None = None  # the pickled form of the model
        self._rng_lock = threading.Lock()
        self.set_seed(seed)

    @classmethod
    def from_file(cls, path: str | os.PathLike, seed: int | None = None) -> "Tokenizer":
        """The tokenizer of a model file (the same as ``Tokenizer(path)``)."""
        if not isinstance(path, (str, os.PathLike)):
            raise InputError(f"expected a model file path, got {type(path).__name__}")
        return cls(path, seed=seed)

    def save(self, path: str | os.PathLike) -> None:
        """Write the model to ``path`` as a BytePiece JSON file, atomically.

        >>> tokenizer.save("copy.json")
        >>> Tokenizer.from_file("copy.json").vocab() == tokenizer.vocab()
        True
        """
        self._model.save(path)

    def __reduce__(self):
        """Pickle (and copy) as the model's JSON and the settings; the copy is rebuilt
        from the compiled-model cache (``cache.load_compiled_bytes``).

        A seeded tokenizer's copy goes on with the same random stream (the same
        samples); with ``seed=None`` the copy draws a fresh one from entropy.

        >>> import pickle
        >>> pickle.loads(pickle.dumps(tokenizer)).encode("Hello world")
        [75, 524, 114, 895]
        """
        if self._model_json is None:
            self._model_json = self._model.to_json(indent=None)
        with self._rng_lock:
            state = self._rng.bit_generator.state if self._seed is not None else None
        return _unpickle, (type(self), self._model_json, self._model.source, self._seed,
                           state, self._segment is not None)

    # -- vocabulary ----------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        """Number of ids, special tokens included."""
        return len(self._id_to_bytes)

    def __len__(self) -> int:
        """``vocab_size``: the number of ids."""
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer({self._model.source!r}, vocab_size={self.vocab_size})"

    def __iter__(self) -> Iterator[bytes | str]:
        """The pieces in id order, as ``id_to_piece`` gives them.

        >>> list(tokenizer)[:5]
        ['<pad>', '<bos>', '<eos>', b'\\x00', b'\\x01']
        """
        yield from SPECIAL_TOKENS
        yield from self._model.pieces
        yield from self._model.special_tokens

    def vocab(self) -> dict[bytes | str, int]:
        """A new dict from every piece (bytes; str for the special tokens) to its id.

        >>> vocab = tokenizer.vocab()
        >>> vocab["<eos>"], vocab[b" world"], len(vocab) == len(tokenizer)
        (2, 895, True)
        """
        table: dict[bytes | str, int] = {name: i for i, name in enumerate(SPECIAL_TOKENS)}
        table.update((p, i + N_SPECIAL) for i, p in enumerate(self._model.pieces))
        table.update(self._special_ids)
        return table

    def piece_to_id(self, piece: bytes | str) -> int:
        """The id of a piece (bytes), of '<pad>', '<bos>', '<eos>', or of a special token
        (str or its UTF-8 bytes); a str that is no special token is looked up as UTF-8.

        >>> tokenizer.piece_to_id(b" world"), tokenizer.piece_to_id("<eos>")
        (895, 2)
        """
        if self._piece_to_id_map is None:
            table = {p: i for i, p in enumerate(self._id_to_bytes) if i >= N_SPECIAL}
            table.update((name, i) for i, name in enumerate(SPECIAL_TOKENS))
            table.update(self._special_ids)
            self._piece_to_id_map = table
        key = piece
        if isinstance(piece, str) and piece not in SPECIAL_TOKENS and \
                piece not in self._special_ids:
            key = piece.encode(errors="surrogatepass")
        try:
            return self._piece_to_id_map[key]
        except (KeyError, TypeError):
            raise InputError(f"{piece!r} is not a piece of this model") from None

    def id_to_piece(self, i: int) -> bytes | str:
        """The piece (bytes) of an id; '<pad>', '<bos>', '<eos>' for ids 0..2, and the
        text (str) of a special token.

        >>> tokenizer.id_to_piece(895), tokenizer.id_to_piece(1)
        (b' world', '<bos>')
        """
        if type(i) is not int and not isinstance(i, np.integer):
            raise InputError(f"id {i!r} is not an integer")
        if not 0 <= i < self.vocab_size:
            raise InputError(f"id {i} is out of range 0..{self.vocab_size - 1}")
        if i < N_SPECIAL:
            return SPECIAL_TOKENS[i]
        if i >= N_SPECIAL + len(self._model.pieces):
            return self._model.special_tokens[i - N_SPECIAL - len(self._model.pieces)]
        return self._id_to_bytes[i]

    def pieces_to_ids(self, pieces: Iterable[bytes | str]) -> list[int]:
        """``piece_to_id`` of each piece."""
        return [self.piece_to_id(p) for p in pieces]

    def ids_to_pieces(self, ids: Iterable[int]) -> list[bytes | str]:
        """``id_to_piece`` of each id."""
        return [self.id_to_piece(i) for i in ids]

    # -- special tokens --------------------------------------------------------

    @property
    def special_tokens(self) -> dict[str, int]:
        """The user-defined special tokens and their ids (after the last piece's id).

        >>> tokenizer.special_tokens  # none in a BytePiece model
        {}
        """
        return dict(self._special_ids)

    def add_special_tokens(self, tokens: Sequence[str]) -> list[int]:
        """Add special tokens after the last id (the pieces' ids do not move); their ids.
        ``save`` writes them (model format 2). InputError for a token that is empty,
        repeated, not UTF-8, or a piece of the model.

        >>> chat = Tokenizer.from_file("model.json")
        >>> chat.add_special_tokens(["<|im_start|>", "<|im_end|>"])
        [999, 1000]
        >>> chat.special_tokens, chat.id_to_piece(1000)
        ({'<|im_start|>': 999, '<|im_end|>': 1000}, '<|im_end|>')
        """
        model = self._model.with_special_tokens(tokens)
        added = model.special_tokens[len(self._model.special_tokens):]
        seed_state = (self._seed, self._rng)
        small_budget, segment, best_text = self._small_budget, self._segment, self._best_text
        self._setup(model, self._trie, None)
        self._seed, self._rng = seed_state
        self._small_budget, self._segment, self._best_text = small_budget, segment, best_text
        return [self._special_ids[t] for t in added]

    def _pattern(self, allowed_special):
        """The pattern matching the allowed special tokens, or None when none is allowed:
        ``"none"``, ``"all"``, or a collection of this model's special tokens."""
        if type(allowed_special) is str:
            if allowed_special == "none":
                return None
            if allowed_special != "all":
                raise InputError(f"allowed_special must be 'all', 'none' or a set of special "
                                 f"tokens, got {allowed_special!r}")
            tokens = frozenset(self._special_ids)
        else:
            try:
                tokens = frozenset(allowed_special)
            except TypeError:
                raise InputError(f"allowed_special must be 'all', 'none' or a set of special "
                                 f"tokens, got {allowed_special!r}") from None
            unknown = [t for t in tokens if t not in self._special_ids]
            if unknown:
                known = ", ".join(map(repr, self._special_ids)) or "none"
                raise InputError(f"{sorted(unknown, key=str)[0]!r} is not a special token of "
                                 f"this model (its special tokens: {known}); add it with "
                                 f"add_special_tokens or `bytepiece special --add`")
        if tokens not in self._patterns:
            self._patterns[tokens] = pattern_of(tokens)
        return self._patterns[tokens]

    # -- sampling ------------------------------------------------------------

    def set_seed(self, seed: int | None) -> None:
        """Restart the random stream used when ``alpha >= 0`` (None: from entropy)."""
        if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
            raise InputError(f"seed must be a non-negative integer or None, got {seed!r}")
        with self._rng_lock:
            # unseeded: made at the first draw, so a run that never samples does not
            # import numpy.random (``echo hello | bytepiece encode`` starts faster)
            self._rng = None if seed is None else np.random.default_rng(seed)
            self._seed = None if seed is None else int(seed)

    def _draw_seed(self, alpha: float) -> np.uint64:
        """One 64-bit seed per call; the kernel derives every draw from it and the position."""
        if alpha < 0:
            return _NO_SEED
        if not alpha < np.inf:  # NaN or +inf: no distribution to sample from
            raise InputError(f"alpha must be a finite number (>= 0 samples, < 0 takes the "
                             f"best segmentation), got {alpha}")
        with self._rng_lock:
            if self._rng is None:
                self._rng = np.random.default_rng()
            return np.uint64(self._rng.integers(0, 2**64, dtype=np.uint64))

    # -- encoding ------------------------------------------------------------

    def _id_objects(self) -> np.ndarray:
        """An object array of the ints 0..vocab_size - 1, made once (see ``_lists``)."""
        if self._objects is None:
            self._objects = np.arange(self.vocab_size).astype(object)
        return self._objects

    def _kernel(self):
        """The segmentation kernel of this model (importing numba the first time):
        ``(buf, text_ends, split_lines, alpha, seed, offset) -> (ids, token_ends)``.

        The best path goes through the Aho-Corasick automaton (1.5-3x as fast as
        walking the trie from every start); sampling walks the trie.
        """
        if self._segment is None:
            from ._kernels import read_only
            from ._kernels.best_path import chunk_bounds, segment_chunks, segment_text
            from ._kernels.viterbi import segment

            trie = self._trie
            tables = (trie.nodes, trie.value, trie.logp, trie.pair)
            automaton = trie.automaton
            nodes, fail, cand_se, cand_len, id_logp, cand_id = automaton

            def run(buf, text_ends, split_lines, alpha, seed, offset):
                buf = read_only(buf)  # one specialization (see _kernels.precompile)
                if alpha < 0:
                    # best_path.segment_best, as two kernels (see its doc)
                    chunk_ends, text_chunks = chunk_bounds(buf, text_ends, split_lines)
                    return segment_chunks(buf, chunk_ends, text_chunks, *automaton)
                return segment(buf, text_ends, split_lines, *tables, alpha, seed, offset)

            def best_text(data: bytes) -> np.ndarray:
                return segment_text(data, True, nodes, fail, cand_se, cand_len, id_logp,
                                    cand_id)

            self._best_text = best_text
            self._segment = run
        return self._segment

    def _best_ids(self, data: bytes) -> np.ndarray:
        """int32 ids of the best segmentation of one text: in Python while the kernel is
        not loaded and the input small (see SMALL_BUDGET), else in the kernel."""
        best = self._best_text
        if best is not None:
            return best(data)
        n = len(data)
        if n <= small.SMALL_INPUT and n <= self._small_budget:
            self._small_budget -= n
            trie = self._trie
            return small.segment(np.frombuffer(data, np.uint8), np.array((n,), np.int64), True,
                                 trie.nodes, trie.value, trie.logp, trie.pair)[0]
        self._kernel()
        return self._best_text(data)

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False,
               alpha: float = -1.0, allowed_special="none") -> list[int]:
        """Ids of the NFC form of ``text``; ``alpha >= 0`` samples a segmentation.

        ``allowed_special``: the special tokens read in ``text`` ("all", or a set of
        them); the others, and all with "none", are ordinary text, as in BytePiece.

        >>> tokenizer.encode("hello", add_eos=True)
        [107, 524, 114, 2]
        >>> chat = Tokenizer.from_file("model.json")
        >>> chat.add_special_tokens(["<|im_start|>"])
        [999]
        >>> chat.encode("<|im_start|>hi", allowed_special="all"), chat.encode("<|im_start|>hi")[:3]
        ([999, 364], [63, 127, 371])
        """
        # the one-text path is kept short: per-call overhead dominates on short texts
        if not isinstance(text, str):
            raise InputError(f"expected a str text, got {type(text).__name__} "
                             f"(encode_bytes takes bytes)")
        if allowed_special != "none":
            pattern = self._pattern(allowed_special)
            if pattern is not None and pattern.search(text):
                return encode_split([text], pattern, self._special_ids,
                                    lambda parts: [self.encode(p, alpha=alpha) for p in parts],
                                    add_bos, add_eos, False)[0]
        if type(alpha) is not float:
            alpha = _alpha(alpha)
        data = _utf8(nfc(text))
        out = (self._best_ids(data) if alpha < 0 else self._sample_ids(data, alpha)).tolist()
        if add_bos or add_eos:
            return _add_special(out, add_bos, add_eos)
        return out

    def encode_bytes(self, data: bytes, add_bos: bool = False, add_eos: bool = False,
                     alpha: float = -1.0) -> list[int]:
        """Ids of raw bytes (no normalization), chunked at runs of newlines like text.

        >>> tokenizer.encode_bytes(b"raw \\xff bytes")
        [412, 122, 35, 258, 453, 119, 357]
        """
        if type(data) is not bytes:
            data = _bytes(data)
        if type(alpha) is not float:
            alpha = _alpha(alpha)
        out = (self._best_ids(data) if alpha < 0 else self._sample_ids(data, alpha)).tolist()
        if add_bos or add_eos:
            return _add_special(out, add_bos, add_eos)
        return out

    def _sample_ids(self, data: bytes, alpha: float) -> np.ndarray:
        """int32 ids of a sampled segmentation of one text."""
        seed = self._draw_seed(alpha)
        ends = np.array((len(data),), np.int64)
        return self._kernel()(np.frombuffer(data, np.uint8), ends, True, alpha, seed, 0)[0]

    def tokenize(self, text: str, alpha: float = -1, allowed_special="none") -> list[bytes]:
        """The pieces (bytes) of the NFC form of ``text`` (a special token's UTF-8 bytes).

        >>> tokenizer.tokenize("naïve")
        [b'n', b'a', b'\\xc3', b'\\xaf', b've']
        """
        pieces = self._id_to_bytes
        return [pieces[i] for i in self.encode(text, alpha=alpha,
                                               allowed_special=allowed_special)]

    def encode_buffer(self, buf: np.ndarray, text_ends: np.ndarray, alpha: float = -1.0,
                      split_lines: bool = True, num_threads: int = 1,
                      seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Segment texts given as one uint8 buffer and their int64 end offsets.

        Returns ``(ids, token_ends)``: int32 ids of all texts in order and, per
        text, the cumulative number of ids at its end. The lowest-level entry
        point: no normalization, no copies into Python lists. ``text_ends`` must
        not decrease and stay within ``buf`` (else InputError); ``seed`` (0..2**64-1)
        fixes this call's samples.

        >>> buf = np.frombuffer(b"Hello world", np.uint8)
        >>> tokenizer.encode_buffer(buf, np.array([5, 11]))
        (array([ 75, 524, 114, 895], dtype=int32), array([3, 4]))
        """
        _check_buffer(buf, text_ends)
        alpha = _alpha(alpha)
        if not isinstance(split_lines, (bool, np.bool_)):
            raise InputError(f"split_lines must be True or False, got {split_lines!r}")
        split_lines = bool(split_lines)
        num_threads = _threads(num_threads)
        if seed is not None:
            seed = _seed64(seed)
        trie = self._trie
        if self._segment is None and alpha < 0 and \
                buf.shape[0] <= min(small.SMALL_INPUT, self._small_budget):
            self._small_budget -= buf.shape[0]
            return small.segment(buf, text_ends, split_lines, trie.nodes, trie.value,
                                 trie.logp, trie.pair)
        segment = self._kernel()
        if seed is None:
            seed = self._draw_seed(alpha)
        n_texts = text_ends.shape[0]
        if num_threads <= 1 or n_texts < 2 or buf.shape[0] < 65536:
            return segment(buf, text_ends, split_lines, alpha, seed, 0)
        # equal byte ranges at text boundaries, one kernel call per thread
        targets = (np.arange(1, num_threads) * buf.shape[0]) // num_threads
        cuts = np.unique(np.concatenate(
            [[0], np.searchsorted(text_ends, targets, side="left") + 1, [n_texts]]))
        cuts = np.minimum(cuts, n_texts)
        cuts = np.unique(cuts)

        def run(k):
            t0, t1 = cuts[k], cuts[k + 1]
            b0 = int(text_ends[t0 - 1]) if t0 > 0 else 0
            b1 = int(text_ends[t1 - 1])
            return segment(buf[b0:b1], text_ends[t0:t1] - b0, split_lines, alpha, seed, b0)

        parts = list(_pool(num_threads).map(run, range(len(cuts) - 1)))
        ids = np.concatenate([p[0] for p in parts])
        shift = np.cumsum([0] + [p[0].shape[0] for p in parts[:-1]])
        token_ends = np.concatenate([p[1] + s for p, s in zip(parts, shift)])
        return ids, token_ends

    def encode_batch(self, texts: Sequence[str], num_threads: int | None = None,
                     add_bos: bool = False, add_eos: bool = False,
                     alpha: float = -1, offsets: bool = False, allowed_special="none"
                     ) -> list[list[int]] | list[tuple[list[int], np.ndarray]]:
        """Ids of many texts; the kernel runs once per thread, not once per text.

        ``num_threads=None`` uses every core, 1 stays on the calling thread.
        Sampled results do not depend on ``num_threads``. ``offsets=True`` gives
        ``(ids, offsets)`` per text, as ``encode_with_offsets`` does (offsets as arrays:
        a tuple per token would cost more than encoding). ``allowed_special`` as in
        ``encode``.

        >>> [(ids, offsets.tolist()) for ids, offsets in
        ...  tokenizer.encode_batch(["Hello", " world"], offsets=True)]
        [([75, 524, 114], [[0, 1], [1, 4], [4, 5]]), ([895], [[0, 6]])]
        """
        num_threads = _threads(num_threads)
        alpha = _alpha(alpha)
        if not isinstance(offsets, (bool, np.bool_)):
            raise InputError(f"offsets must be True or False, got {offsets!r}")
        if isinstance(texts, (str, bytes)):
            raise InputError(f"expected a sequence of str texts, got {type(texts).__name__} "
                             f"(encode takes one text)")
        if not isinstance(texts, list):
            try:
                texts = list(texts)
            except TypeError:
                raise InputError(f"expected a sequence of str texts, got "
                                 f"{type(texts).__name__}") from None
        if allowed_special != "none":
            pattern = self._pattern(allowed_special)
            if pattern is not None and any(pattern.search(t) for t in _texts(texts)):
                return encode_split(texts, pattern, self._special_ids, lambda parts:
                                    self.encode_batch(parts, num_threads, alpha=alpha,
                                                      offsets=offsets),
                                    add_bos, add_eos, bool(offsets))
        if num_threads > 1 and len(texts) > 1:
            return self._encode_pipelined(texts, num_threads, add_bos, add_eos, alpha,
                                          bool(offsets))
        return self._encode_whole(texts, add_bos, add_eos, alpha, bool(offsets))

    def _encode_whole(self, texts: list, add_bos: bool, add_eos: bool, alpha: float,
                      offsets: bool, seed: int | None = None) -> list:
        """``encode_batch`` on this thread: the texts as one buffer, one kernel call."""
        buf, text_ends, all_nfc = self._join_texts_nfc(texts)
        ids, token_ends = self.encode_buffer(buf, text_ends, alpha, num_threads=1, seed=seed)
        with _PausedGC():
            return self._results(ids, token_ends, texts, all_nfc, add_bos, add_eos, offsets)

    def _results(self, ids: np.ndarray, token_ends: np.ndarray, texts: list, all_nfc: bool,
                 add_bos: bool, add_eos: bool, offsets: bool) -> list:
        """One id list per text, or ``(ids, offsets)`` pairs with ``offsets``; the caller
        pauses the garbage collector (``_PausedGC``)."""
        if offsets:
            spans = self._offsets(ids, token_ends, texts, all_nfc)
            return _lists_with_offsets(ids, token_ends, spans, texts, add_bos, add_eos,
                                       self._id_objects())
        return _lists(ids, token_ends, add_bos, add_eos, self._id_objects())

    def encode_with_offsets(self, text: str, add_bos: bool = False, add_eos: bool = False,
                            alpha: float = -1.0, allowed_special="none"
                            ) -> tuple[list[int], np.ndarray]:
        """``(ids, offsets)``: ``encode``, and an int64 array (n, 2) of each token's
        (start, end) characters in ``text`` as given, before NFC.

        A character that NFC made from several (e + U+0301) spans them all; a token
        holding part of a character's UTF-8 bytes gets the whole character, so
        consecutive tokens may share one. ``<bos>`` is (0, 0), ``<eos>`` (len, len), an
        allowed special token its characters' span (``allowed_special`` as in ``encode``).

        >>> ids, offsets = tokenizer.encode_with_offsets("Hello world")
        >>> ids, offsets.tolist()
        ([75, 524, 114, 895], [[0, 1], [1, 4], [4, 5], [5, 11]])
        >>> tokenizer.encode_with_offsets("nai\\u0308ve")[1].tolist()  # ï: 2 byte pieces
        [[0, 1], [1, 2], [2, 4], [2, 4], [4, 6]]
        """
        if not isinstance(text, str):
            raise InputError(f"expected a str text, got {type(text).__name__}")
        return self.encode_batch([text], num_threads=1, add_bos=add_bos, add_eos=add_eos,
                                 alpha=alpha, offsets=True, allowed_special=allowed_special)[0]

    def _offsets(self, ids: np.ndarray, token_ends: np.ndarray, texts: list[str],
                 all_nfc: bool) -> np.ndarray:
        """int64 (n_tokens, 2): each token's characters in its text as given (see
        ``bytepiece.offsets``): the kernel once it is loaded, else numpy."""
        from . import offsets

        if self._piece_chars is None:
            self._piece_chars = offsets.piece_char_tables(*self.piece_table())
        if self._segment is not None:
            from ._kernels.offsets import nfc_char_spans
        else:
            nfc_char_spans = offsets.nfc_char_spans
        spans = nfc_char_spans(ids, token_ends, *self._piece_chars)
        return offsets.original_spans(spans, token_ends, texts, all_nfc)

    def _encode_pipelined(self, texts: list, num_threads: int, add_bos: bool, add_eos: bool,
                          alpha: float, offsets: bool = False) -> list:
        """``encode_batch`` on several threads: the texts go in parts through a pipeline.

        Joining texts into bytes and turning ids into lists hold the GIL; the
        kernel does not. The calling thread joins part k + 1 while the pool
        segments part k, and each worker turns its own part's ids into lists, so
        that Python work overlaps another thread's kernel instead of waiting for
        the calling thread (which made 2 threads only 1.0-1.5x one thread; now
        1.7-1.9x on en, code and mixed). Workers joining their parts too was slower.
        """
        seed = self._draw_seed(alpha)
        bounds = _part_bounds(texts, num_threads)
        if len(bounds) == 2:
            return self._encode_whole(texts, add_bos, add_eos, alpha, offsets, seed)
        segment = self._kernel()
        self._id_objects()  # made once, before the workers use it

        def part(buf, text_ends, offset, all_nfc, lo, hi):
            ids, token_ends = segment(buf, text_ends, True, alpha, seed, offset)
            return self._results(ids, token_ends, texts[lo:hi], all_nfc, add_bos, add_eos,
                                 offsets)

        pool = _pool(num_threads)
        pending = []
        offset = 0
        out: list = []
        with _PausedGC():  # for the lists the workers build
            for lo, hi in zip(bounds, bounds[1:]):
                buf, text_ends, all_nfc = self._join_texts_nfc(texts[lo:hi])
                pending.append(pool.submit(part, buf, text_ends, offset, all_nfc, lo, hi))
                offset += buf.shape[0]
            for future in pending:
                out += future.result()
        return out

    @staticmethod
    def _join_texts_nfc(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, bool]:
        """The UTF-8 bytes of the NFC texts back to back, each text's end offset, and
        whether every text was NFC already.

        One join and one encode for the whole batch: if the joined text is NFC,
        so is every text in it, and per-text work shrinks to taking lengths.
        """
        if not isinstance(texts, list):
            texts = list(texts)
        try:
            joined = "".join(texts)  # checks that every text is a str, in C
        except TypeError:
            raise _not_texts(texts) from None
        all_nfc = unicodedata.is_normalized("NFC", joined)
        if not all_nfc:
            texts = [nfc(t) for t in texts]
            joined = "".join(texts)
        buf = np.frombuffer(_utf8(joined), np.uint8)
        char_ends = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)))
        if len(texts) and char_ends[-1] != len(joined):  # a str subclass with its own len
            raise InputError("expected str texts whose len() is their number of characters")
        if buf.shape[0] == joined.__len__():  # ASCII: characters are bytes
            return buf, char_ends, all_nfc
        if buf.shape[0] <= small.SMALL_INPUT:  # not worth loading a kernel for
            return buf, np.cumsum([len(_utf8(t)) for t in texts], dtype=np.int64), all_nfc
        from ._kernels.text_io import char_to_byte_ends

        return buf, char_to_byte_ends(buf, char_ends), all_nfc

    # -- decoding ------------------------------------------------------------

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """Text of ids (ids 0..2 are skipped; a special token gives its text); bytes that are
        not UTF-8 become U+FFFD.

        ``errors`` as in ``bytes.decode``: "replace" (default, as tiktoken),
        "ignore" drops them, "strict" raises InputError. ``decode_bytes`` gives
        the bytes themselves.

        >>> tokenizer.decode(tokenizer.encode("naïve café", add_bos=True))
        'naïve café'
        >>> ids = tokenizer.encode_bytes(b"raw \\xff bytes")
        >>> tokenizer.decode(ids), tokenizer.decode(ids, errors="ignore")
        ('raw \ufffd bytes', 'raw  bytes')
        """
        if type(errors) is not str or errors != "replace":
            _check_errors(errors)
        return _decode_utf8(self.decode_bytes(ids), errors)

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for, exactly (ids 0..2 contribute nothing): the
        inverse of ``encode_bytes``, also for ids that cut a UTF-8 character.

        >>> tokenizer.decode_bytes(tokenizer.encode_bytes(b"raw \\xff bytes"))
        b'raw \\xff bytes'
        """
        if isinstance(ids, np.ndarray):
            if ids.ndim != 1:
                raise InputError(f"ids must be a 1-d array, got a {ids.ndim}-d array")
            ids = ids.tolist()
        elif not isinstance(ids, list):
            try:
                ids = list(ids)
            except TypeError:
                raise InputError(f"expected a list of ids, got {type(ids).__name__}") from None
        pieces = self._id_to_bytes
        try:
            return b"".join([pieces[i] if i >= 0 else pieces[len(pieces)] for i in ids])
        except (IndexError, TypeError):
            raise InputError(_bad_id(ids, len(pieces))) from None

    def piece_table(self) -> tuple[np.ndarray, np.ndarray]:
        """``(data, offsets)``: the bytes of id ``i`` are data[offsets[i]:offsets[i+1]]
        (empty for ids 0..2); for kernels that turn ids back into bytes."""
        if self._table is None:
            lengths = np.fromiter(map(len, self._id_to_bytes), np.int64, self.vocab_size)
            offsets = np.zeros(self.vocab_size + 1, np.int64)
            np.cumsum(lengths, out=offsets[1:])
            data = np.frombuffer(b"".join(self._id_to_bytes), np.uint8)
            self._table = (data, offsets)
        return self._table

    def decode_batch(self, batch: Iterable[Iterable[int]], num_threads: int | None = None,
                     errors: str = "replace") -> list[str]:
        """Texts of many id lists, ``errors`` as in ``decode`` (``num_threads`` is accepted
        for symmetry; decoding is a join, bound by Python, so it runs on the calling thread).

        >>> tokenizer.decode_batch([[75, 524, 114], [895]])
        ['Hello', ' world']
        """
        _threads(num_threads)
        _check_errors(errors)
        try:
            return [self.decode(ids, errors) for ids in batch]
        except TypeError:  # not iterable
            raise InputError(f"expected a list of id lists, got {type(batch).__name__}") from None


# -- helpers -----------------------------------------------------------------

def _unpickle(cls: type, model_json: bytes, source: str, seed: int | None,
              rng_state: dict | None, warm: bool) -> Tokenizer:
    """The Tokenizer that ``Tokenizer.__reduce__`` pickled; ``warm``: the original had
    loaded its kernel, so this one does not start with the Python path."""
    tokenizer = cls.__new__(cls)
    tokenizer._setup(*load_compiled_bytes(model_json, source), seed)
    tokenizer._model_json = model_json
    if rng_state is not None:
        tokenizer._rng.bit_generator.state = rng_state
    if warm:
        tokenizer._small_budget = 0
    return tokenizer


def _bytes(data) -> bytes:
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise InputError(f"expected bytes, got {type(data).__name__}"
                     + (" (encode takes str)" if isinstance(data, str) else ""))


def _alpha(alpha) -> float:
    """``alpha`` as a float (NaN and +inf are refused where sampling starts)."""
    if isinstance(alpha, (float, int, np.floating, np.integer)) and not isinstance(
            alpha, (bool, np.bool_)):
        return float(alpha)
    raise InputError(f"alpha must be a number (>= 0 samples, < 0 takes the best "
                     f"segmentation), got {alpha!r}")


def _seed64(seed) -> np.uint64:
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) \
            and 0 <= seed < 2**64:
        return np.uint64(seed)
    raise InputError(f"seed must be an integer in 0..2**64-1 or None, got {seed!r}")


def _check_buffer(buf, text_ends) -> None:
    """Refuse arrays the kernels cannot take safely: other types, shapes or layouts,
    and ends that decrease or leave the buffer (the kernels check no index)."""
    for name, array, dtype in (("buf", buf, np.uint8), ("text_ends", text_ends, np.int64)):
        if not isinstance(array, np.ndarray):
            raise InputError(f"{name} must be a numpy array of {dtype.__name__}, "
                             f"got {type(array).__name__}")
        if array.dtype != dtype or array.ndim != 1:
            raise InputError(f"{name} must be a 1-d array of {dtype.__name__}, got a "
                             f"{array.ndim}-d array of {array.dtype}")
        if not (array.flags.c_contiguous and array.flags.aligned):
            raise InputError(f"{name} must be contiguous (use np.ascontiguousarray({name}))")
    n = text_ends.shape[0]
    if n == 0:
        return
    if text_ends[0] < 0:
        raise InputError(f"text_ends[0] is {text_ends[0]}: offsets cannot be negative")
    if text_ends[-1] > buf.shape[0]:
        raise InputError(f"text_ends[{n - 1}] is {text_ends[-1]}, past the end of buf "
                         f"({buf.shape[0]} bytes)")
    falls = np.flatnonzero(text_ends[1:] < text_ends[:-1])
    if falls.shape[0]:
        k = int(falls[0])
        raise InputError(f"text_ends must not decrease: text_ends[{k + 1}] is "
                         f"{text_ends[k + 1]}, after {text_ends[k]}")


def _check_errors(errors) -> None:
    """An InputError unless ``errors`` is a handler that decoding can use (not one for
    encoding only, such as 'xmlcharrefreplace')."""
    try:
        codecs.lookup_error(errors)
        b"\xff".decode("utf-8", errors)
    except UnicodeDecodeError:
        pass  # 'strict'
    except (LookupError, TypeError):
        raise InputError(f"errors must be 'replace', 'ignore', 'strict' or another error "
                         f"handler of bytes.decode, got {errors!r}") from None


def _decode_utf8(raw: bytes, errors: str) -> str:
    try:
        return raw.decode("utf-8", errors)
    except UnicodeDecodeError as e:
        raise InputError(f"the ids spell bytes that are not UTF-8 (0x{raw[e.start]:02x} at "
                         f"byte {e.start}); pass errors='replace' or 'ignore', or use "
                         f"decode_bytes") from None

def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InputError(f"text has a lone surrogate {text[e.start]!r} at index {e.start}; "
                         f"it cannot be encoded as UTF-8") from None


class _PausedGC:
    """The cyclic garbage collector paused while one list of ids per text is made: it
    would otherwise rescan the growing heap of new lists over and over (8x slower)."""

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc) -> None:
        if self.enabled:
            gc.enable()


def _lists(ids: np.ndarray, token_ends: np.ndarray, add_bos: bool, add_eos: bool,
           objects: np.ndarray) -> list[list[int]]:
    """One list of ids per text (the caller pauses the garbage collector: ``_PausedGC``).

    ``objects`` holds one int object per id: taking them (references) is about
    twice as fast as ``tolist``, which allocates an int per id above 256; with
    intp indices, as numpy's take is 2-3x slower on int32 ones."""
    flat = np.take(objects, ids.astype(np.intp)).tolist()
    starts = [0] + token_ends[:-1].tolist()
    ends = token_ends.tolist()
    if add_bos or add_eos:
        head = [BOS_ID] if add_bos else []
        tail = [EOS_ID] if add_eos else []
        return [head + flat[a:b] + tail for a, b in zip(starts, ends)]
    return [flat[a:b] for a, b in zip(starts, ends)]


def _lists_with_offsets(ids: np.ndarray, token_ends: np.ndarray, spans: np.ndarray,
                        texts: list[str], add_bos: bool, add_eos: bool,
                        objects: np.ndarray) -> list:
    """``(ids, offsets)`` per text: ``_lists`` and a view of the int64 (n, 2) rows of
    ``spans``, with (0, 0) for ``<bos>`` and (len(text), len(text)) for ``<eos>``."""
    id_lists = _lists(ids, token_ends, add_bos, add_eos, objects)
    extra = int(add_bos) + int(add_eos)
    if extra:  # rows for the special tokens, between the texts' rows
        n_texts = token_ends.shape[0]
        counts = np.diff(token_ends, prepend=0)
        token_ends = token_ends + extra * np.arange(1, n_texts + 1)
        full = np.zeros((spans.shape[0] + extra * n_texts, 2), np.int64)
        full[np.arange(spans.shape[0]) + extra * np.repeat(np.arange(n_texts), counts)
             + add_bos] = spans
        if add_eos:
            full[token_ends - 1] = np.fromiter(map(len, texts), np.int64, n_texts)[:, None]
        spans = full
    ends = token_ends.tolist()
    return list(zip(id_lists, [spans[a:b] for a, b in zip([0] + ends[:-1], ends)]))


def _add_special(ids: list[int], add_bos: bool, add_eos: bool) -> list[int]:
    if add_bos:
        ids.insert(0, BOS_ID)
    if add_eos:
        ids.append(EOS_ID)
    return ids


def _bad_id(ids, vocab_size: int) -> str:
    for i in ids:
        if type(i) is not int and not isinstance(i, np.integer):
            return f"id {i!r} is not an integer"
        if not 0 <= i < vocab_size:
            return f"id {i} is out of range 0..{vocab_size - 1}"
    return "invalid ids"


#: Characters per part of a multi-threaded ``encode_batch``: big enough that a
#: kernel call and a hand-over cost nothing, small enough to fill the pipeline.
PART_CHARS = 1 << 19


def _texts(texts: list) -> list:
    """``texts`` if every one is a str, else InputError."""
    if not all(isinstance(t, str) for t in texts):
        raise _not_texts(texts)
    return texts


def _not_texts(texts: list) -> InputError:
    """The error for a batch that holds something other than str."""
    bad = next((t for t in texts if not isinstance(t, str)), None)
    return InputError(f"expected str texts, got {type(bad).__name__}")


def _part_bounds(texts: list, num_threads: int) -> list[int]:
    """Text indices cutting ``texts`` into parts of about equal characters: at least
    ``8 * num_threads`` parts when the batch is large (the first join and the last
    split are not overlapped: small parts make them short), none under PART_CHARS / 16."""
    try:
        lengths = np.fromiter(map(len, texts), np.int64, len(texts))
    except TypeError:
        raise _not_texts(texts) from None
    total = int(lengths.sum())
    n_parts = max(8 * num_threads, total // PART_CHARS)
    n_parts = min(n_parts, max(1, total // (PART_CHARS // 16)), len(texts))
    if n_parts <= 1:
        return [0, len(texts)]
    ends = np.cumsum(lengths)
    cuts = np.searchsorted(ends, (np.arange(1, n_parts) * total) // n_parts, side="left") + 1
    return sorted({0, len(texts), *(int(c) for c in cuts if 0 < c < len(texts))})


def _threads(num_threads: int | None) -> int:
    if num_threads is None:
        return os.cpu_count() or 1
    if not isinstance(num_threads, (int, np.integer)) or isinstance(num_threads, bool):
        raise InputError(f"num_threads must be a positive integer or None, got {num_threads!r}")
    if num_threads < 1:
        raise InputError(f"num_threads must be at least 1, got {num_threads}")
    return num_threads


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(num_threads: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # here: start-up skips it

    with _POOLS_LOCK:
        pool = _POOLS.get(num_threads)
        if pool is None:
            pool = _POOLS[num_threads] = ThreadPoolExecutor(num_threads, "bytepiece")
        return pool
