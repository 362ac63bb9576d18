"""The Ray engine: tasks are Ray remote functions, shared values Ray objects."""

from __future__ import annotations

from ..errors import InputError
from . import missing_engine

#: Times a task is run again when its worker dies or it raises.
RETRIES = 3


class RayEngine:
    """Tasks on the CPUs of a Ray cluster."""

    name = "ray"

    def __init__(self, own: bool):
        import ray

        self.ray = ray
        self.own = own
        self._remote: dict = {}

    @classmethod
    def at(cls, url: str) -> "RayEngine":
        try:
            import ray
        except ImportError:
            raise missing_engine("ray", "ray") from None
        if ray.is_initialized():
            return cls(own=False)
        address = "auto" if url in ("ray:auto", "ray") else url
        try:
            ray.init(address=address, logging_level="ERROR", log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise InputError(f"cannot join the Ray cluster at {url}: {first}") from None
        return cls(own=True)

    @property
    def slots(self) -> int:
        return max(1, int(self.ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn, *args, returns: int = 1):
        remote = self._remote.get(fn)
        if remote is None:
            remote = self._remote[fn] = self.ray.remote(fn)
        return remote.options(num_returns=returns, max_retries=RETRIES,
                              retry_exceptions=False).remote(*args)

    def share(self, value):
        return self.ray.put(value)

    def gather(self, handles: list) -> list:
        return self.ray.get(list(handles))

    def each_done(self, handles: list):
        where = {h: i for i, h in enumerate(handles)}
        pending = list(handles)
        while pending:
            done, pending = self.ray.wait(pending, num_returns=1)
            for h in done:
                yield where[h]

    def close(self) -> None:
        if self.own:
            self.ray.shutdown()
