"""Functions the CLI tests run on a real LocalCluster."""

import os

import dask
import pandas as pd


def squares(n=4):
    values = dask.compute(*[dask.delayed(lambda i: i * i)(i) for i in range(n)])
    return pd.DataFrame({"i": range(n), "square": list(values)})


def fails():
    def boom(x):
        raise ValueError(f"task {x} exploded")

    return dask.compute(dask.delayed(boom)(1))


def not_a_frame():
    return [1, 2, 3]


def stores_itself():
    return None


def waits_for_a_signal(pid_file):
    """Record a worker's pid, then wait: the test stops the launcher and checks the cleanup."""
    import time

    from distributed import get_client

    pid = get_client().submit(os.getpid).result()
    with open(pid_file, "w") as handle:
        handle.write(str(pid))
    time.sleep(600)


def exits(code=0):
    import sys

    sys.exit(code)


def interrupts():
    raise KeyboardInterrupt


class Unprintable:
    def __str__(self):
        raise RuntimeError("no text for this cell")

    __repr__ = __str__


def unprintable_cell():
    return pd.DataFrame({"x": [1, 2], "cell": ["fine", Unprintable()]})


def lone_surrogate():
    return pd.DataFrame({"text": ["ok", "\ud800 alone"]}, dtype=object)


def sliced():
    return pd.DataFrame({"x": range(10)}).iloc[::3]


def hard_exit(code=0):
    """Ends the process past every `try`, as a C library's exit() would."""
    os._exit(code)


def hard_exit_from_a_thread():
    import threading
    import time

    threading.Thread(target=os._exit, args=(0,)).start()
    time.sleep(30)
    return pd.DataFrame({"never": [1]})


def environment_value(name):
    return pd.DataFrame({"value": [os.environ.get(name, "<unset>")]})


def _environment_value(name):
    return os.environ.get(name, "<unset>")


def worker_environment_value(name, resources=None):
    """`name` in the environment of the worker that runs a task asking for `resources`."""
    from distributed import get_client

    # A function of this module: a bound os.environ.get would carry the launcher's environment.
    future = get_client().submit(_environment_value, name, resources=resources, pure=False)
    return pd.DataFrame({"value": [future.result(timeout=60)]})


def raises_with(text):
    raise ValueError(text)


def counted_squares(count_file, n=6, hold_file=None):
    """Squares of 0..n-1, each call of the function recorded in `count_file`; with
    `hold_file`, the function waits until that file exists before it computes."""
    import time

    with open(count_file, "a") as handle:
        handle.write("started\n")
    while hold_file and not os.path.exists(hold_file):
        time.sleep(0.1)
    values = dask.compute(*[dask.delayed(lambda i: i * i)(i) for i in range(n)])
    print("counted_squares computed", len(values), "values", flush=True)
    return pd.DataFrame({"i": range(n), "square": list(values)})


def slow_to_close(marker, seconds=5.0):
    """A small result; the cluster then takes `seconds` to close: a window for a stop signal
    that arrives after the result was kept. (A worker plugin's teardown marks the moment.)"""
    import time

    import pandas as pd
    from distributed import WorkerPlugin, get_client

    class SlowToClose(WorkerPlugin):
        name = "daskrun-test-slow-to-close"

        def teardown(self, worker):
            with open(marker, "w") as handle:
                handle.write("closing")
            time.sleep(seconds)

    get_client().register_plugin(SlowToClose())
    return pd.DataFrame({"x": [1, 2, 3]})


def report_load(n=4, seconds=0.3):
    """Tasks that compute for `seconds` each: long enough for the workers' profiler (a sample
    every 10 ms) to see them, so a performance report has a worker profile to show."""
    import time

    def square(i):
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pass
        return i * i

    values = dask.compute(*[dask.delayed(square)(i) for i in range(n)])
    return pd.DataFrame({"i": range(n), "square": list(values)})


def kills_its_worker():
    """A task that ends its worker process: Dask's nanny warns, the scheduler gives up on the
    task (KilledWorker) once allowed-failures is spent."""

    def die(x):
        os._exit(1)

    return dask.compute(dask.delayed(die)(1))
