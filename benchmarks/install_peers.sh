#!/bin/sh
# Install the tokenizers benchmarks/encode.py and train.py compare bytepiece with.
#
#   sh benchmarks/install_peers.sh [REFERENCE_VENV]
#
# 1. BytePiece 0.6.3, the original, in a virtual environment of its own
#    (default: benchmarks/work/bytepiece-0.6.3): it has the same import name as
#    this project, so the two cannot share an environment. pyahocorasick must be
#    built from source with AHOCORASICK_BYTES=1 (byte keys), and BytePiece's
#    Cython extension without build isolation so that it sees Cython and numpy.
# 2. SentencePiece, Hugging Face tokenizers, psutil (train.py samples memory with it) and
#    matplotlib (the plots of compression.py and scaling.py)
#    into the current environment (the `python` on PATH, or $PYTHON), the one that runs
#    bytepiece and the benchmarks.
#
# Afterwards point the benchmark at the reference's interpreter, e.g.
#   export BYTEPIECE_REFERENCE_PYTHON=benchmarks/work/bytepiece-0.6.3/bin/python
set -eu

here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-"$here/work/bytepiece-0.6.3"}
python=${PYTHON:-python}

"$python" -m venv "$venv"
"$venv/bin/pip" install Cython wheel setuptools numpy tqdm
AHOCORASICK_BYTES=1 "$venv/bin/pip" install --no-binary pyahocorasick --no-cache-dir pyahocorasick
"$venv/bin/pip" install --no-build-isolation bytepiece==0.6.3
(cd / && "$venv/bin/python" -I -c "import bytepiece; print('BytePiece', bytepiece.__file__)")

"$python" -m pip install sentencepiece tokenizers psutil matplotlib

echo "export BYTEPIECE_REFERENCE_PYTHON=$venv/bin/python"
