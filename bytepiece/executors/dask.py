"""The Dask (``distributed``) engine: tasks are futures of a ``Client``."""

from __future__ import annotations

import operator

from ..errors import InputError
from . import missing_engine

#: Times a task is tried again after it raised (a task lost with its worker is rerun
#: by the scheduler anyway, up to ``distributed.scheduler.allowed-failures``).
RETRIES = 2


class DaskEngine:
    """Tasks on the workers of a Dask cluster."""

    name = "dask"

    def __init__(self, client, own: bool):
        self.client = client
        self.own = own  # connected here: closed here

    @classmethod
    def at(cls, address: str) -> "DaskEngine":
        try:
            from distributed import Client
        except ImportError:
            raise missing_engine("dask.distributed", "dask") from None
        try:
            client = Client(address, timeout="20s")
        except (OSError, TimeoutError) as e:
            raise InputError(f"cannot reach the Dask scheduler at {address}: {e}") from None
        return cls(client, own=True)

    @property
    def slots(self) -> int:
        """Threads across the workers: tasks that can run at once."""
        return max(1, sum(self.client.nthreads().values()))

    def submit(self, fn, *args, returns: int = 1):
        future = self.client.submit(fn, *args, pure=False, retries=RETRIES)
        if returns == 1:
            return future
        # getitem runs where the tuple is: only the item a consumer needs moves
        return [self.client.submit(operator.getitem, future, i, pure=False)
                for i in range(returns)]

    def share(self, value):
        [future] = self.client.scatter([value], broadcast=True, hash=False)
        return future

    def gather(self, handles: list) -> list:
        return self.client.gather(list(handles))

    def each_done(self, handles: list):
        from distributed import as_completed

        where = {h.key: i for i, h in enumerate(handles)}
        for future in as_completed(list(handles)):
            yield where[future.key]

    def close(self) -> None:
        if self.own:
            self.client.close()
