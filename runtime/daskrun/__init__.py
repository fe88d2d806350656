"""daskrun: run a Dask-distributed Python function on Kubernetes or locally, keep its DataFrame."""

from daskrun._version import __version__

__all__ = ["__version__", "run_dask_function", "run_on_kubernetes"]


def __getattr__(name):
    # Lazy, so `daskrun validate` and `--help` start fast without importing dask.
    if name == "run_dask_function":
        from daskrun.runner import run_dask_function

        return run_dask_function
    if name == "run_on_kubernetes":
        from daskrun.submit import run_on_kubernetes

        return run_on_kubernetes
    raise AttributeError(f"module 'daskrun' has no attribute {name!r}")
