"""Converting models to and from other tokenizer libraries' formats.

``sentencepiece``: SentencePiece ``.model`` files (a protobuf, written and read
by hand in ``protobuf``); ``huggingface``: ``tokenizer.json`` files of the
Hugging Face ``tokenizers`` library. Neither library is needed to convert.
"""
