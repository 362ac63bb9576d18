"""Constants of the arrays the kernels share with Python code that must not import numba."""

#: ``cand_se`` packs a state's first candidate entry and its number of pairs:
#: ``first << PAIR_BITS | pairs`` (see ``automaton.candidate_lists``).
PAIR_BITS = 16
