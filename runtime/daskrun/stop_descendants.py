"""Stop every process a setup script started, and not the script: its deadline's hand.

The bootstrap puts this file's source into the setup script of every Dask pod (whose image
may lack daskrun) and of the launcher. Run as a program when the setup is over its time, it
sends SIGTERM to each descendant of the script's shell, then SIGKILL to any still there after
a grace period. The shell itself is spared, so its failed step ends through its own report
(the step's name, exit 86), and so are the processes named on the command line (the output
filter, which passes on the last lines) and this process. Signalling the shell's
process group instead would reach whoever started the script when it leads no group of its
own (a test, a user's shell). Reads Linux's /proc.
"""

import os
import signal
import sys
import time


def parents():
    """Every process's parent, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue  # ended meanwhile
        # The command name, in parentheses, may hold spaces and parentheses itself.
        found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return found


def descendants(root, spared):
    """The processes below `root`, without those at or below any of `spared`."""
    children: dict[int, list[int]] = {}
    for pid, parent in parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        if pid in spared:
            continue
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def stop(root, spared, grace=5.0):
    """SIGTERM to the descendants of `root`, SIGKILL to those left after `grace` seconds."""
    targets = descendants(root, spared)
    for pid in targets:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_running(pid) for pid in targets):
        time.sleep(0.1)
    for pid in descendants(root, spared):  # also what they started in the meantime
        _signal(pid, signal.SIGKILL)


def _signal(pid, signum):
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _running(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def main(argv):
    """argv: [--after SECONDS MESSAGE] the shell's pid, then pids to spare (empty words are
    skipped). With --after, wait that long first and print MESSAGE: the setup's deadline."""
    if argv[:1] == ["--after"]:
        time.sleep(float(argv[1]))
        print(argv[2], file=sys.stderr, flush=True)
        argv = argv[3:]
    spare = {int(word) for word in argv[1:] if word}
    spare.add(os.getpid())
    stop(int(argv[0]), spare)


if __name__ == "__main__":
    main(sys.argv[1:])
