"""When the counting tables spill, and where: the memory budget and the run files.

A counting phase gives its tables an ``allowance``: the budget less what the
process already holds when the phase starts (the interpreter, the language
model) and a reserve, but at least an eighth of the budget (``MIN_SHARE``: the
language model alone can take half of a small budget). Before a batch,
tables that could grow past the allowance are written out as a sorted run
instead (``write``), and the phase goes on with small empty tables. Phases that
never spill keep their one run in memory.
"""

from __future__ import annotations

import os

from ..memory import resident_bytes
from .merge import sort_and_sum
from .runs import Block, MemoryRun, RunFile, write_run

#: Bytes kept free for batch buffers, merges and Python objects besides the tables.
RESERVE = 48 << 20
#: Blocks from this size on go back to the system when freed (``memory.steady_memory``):
#: a block of a run holds 64k entries, 512 kB of keys.
STEADY_THRESHOLD = 256 << 10
#: The smallest allowance, as a share of the budget: the tables spill more often when the
#: budget is nearly used up, and the phase still goes on.
MIN_SHARE = 8


def allowance(budget: int, tables: int = 0) -> int:
    """Bytes a phase's tables may hold: the budget less what the process holds now
    besides the ``tables`` bytes of them and ``RESERVE``, but at least 1/``MIN_SHARE``
    of it. What the process holds is what it uses once training has set
    ``STEADY_THRESHOLD`` (``Trainer.train``; on a cluster, each task)."""
    rest = max(resident_bytes() - tables, 0)
    return max(budget - rest - RESERVE, budget // MIN_SHARE)


def default_budget() -> int:
    """The memory budget when none is given: a quarter of the memory available now (at
    least 256 MB), which leaves the rest of the machine to other work and spares most
    corpora of a laptop's size any spilling."""
    available = _available_memory()
    if available is None:
        return 1 << 30
    return max(256 << 20, available // 4)


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


class Spill:
    """The allowance of a counting phase, the runs it has written, and how far through
    the texts they reach (kept in the manifest, so that a killed run resumes there).

    ``workdirs.get()`` makes the folder when first needed; ``workdirs.current``
    is it if it exists (given a --tmp-dir, from the start: then an earlier run's
    runs of this phase are taken up again).
    """

    def __init__(self, budget: int, workdirs, stem: str, kind: int):
        self.budget = budget
        self.allowance = allowance(budget)
        self.workdirs = workdirs
        self.stem = stem
        self.kind = kind
        self.runs: list = []
        self.spills = 0
        #: texts and bytes of text that the runs so far hold (resumed ones included)
        self.texts = 0
        self.bytes = 0
        work = workdirs.current
        if work is not None:
            state = work.phase(stem)
            self.runs = [RunFile(os.path.join(work.path, name)) for name in state.get("runs", [])]
            self.texts = state.get("texts", 0)
            self.bytes = state.get("bytes", 0)

    @property
    def done(self) -> bool:
        """Whether an earlier run finished this phase (its runs are all there)."""
        work = self.workdirs.current
        return work is not None and work.phase(self.stem).get("done", False)

    def over(self, table_bytes: int, growth: int, entries: int) -> bool:
        """Whether tables of ``table_bytes`` holding ``entries`` that may grow by
        ``growth`` must spill first (empty tables never: there is nothing to spill).

        The allowance is taken again from what the rest of the process holds now: it
        grows once the phase has started (kernels loaded, batches in flight)."""
        if entries == 0:
            return False
        self.allowance = allowance(self.budget, table_bytes)
        return table_bytes + growth > self.allowance

    def write(self, block: Block, texts: int, n_bytes: int) -> None:
        """Sort ``block`` (in its own arrays: it is spent) and commit it as a run holding
        the counts of the first ``texts`` texts (``n_bytes`` bytes) not in earlier runs."""
        block = sort_and_sum(block, self.kind, own=True)
        work = self.workdirs.get()
        try:
            run = RunFile(write_run(work.new_path(self.stem), self.kind, block))
        except OSError as e:
            raise work.disk_error(e, "spilling counts") from None
        self.runs.append(run)
        self.spills += 1
        self.texts, self.bytes = texts, n_bytes
        self._record()
        self.workdirs.note_disk()

    def finish(self, block: Block, texts: int, n_bytes: int) -> list:
        """The phase's last tables: a run in memory if nothing spilled, else one more
        file. Returns every run of the phase."""
        if self.runs:
            if len(block):
                self.write(block, texts, n_bytes)
            else:
                self.texts, self.bytes = texts, n_bytes
            self._record(done=True)
        else:
            self.runs.append(MemoryRun(sort_and_sum(block, self.kind, own=True), self.kind))
            self.texts, self.bytes = texts, n_bytes
        return self.runs

    def replaced(self, group: list, run: RunFile) -> None:
        """A merge replaced the runs ``group`` with ``run``: the manifest says so."""
        gone = {id(r) for r in group}
        at = min(i for i, r in enumerate(self.runs) if id(r) in gone)
        self.runs = [r for r in self.runs if id(r) not in gone]
        self.runs.insert(at, run)
        self._record(done=True)

    def _record(self, done: bool = False) -> None:
        work = self.workdirs.current
        if work is None:
            return
        files = [os.path.basename(r.path) for r in self.runs if isinstance(r, RunFile)]
        work.state[self.stem] = {"runs": files, "texts": self.texts, "bytes": self.bytes,
                                 "done": done}
        work.save()
