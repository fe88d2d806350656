# shellcheck shell=sh
# The start of every setup script (daskrun.bootstrap): strict mode, the report that names the
# step that failed, the stop trap, the interpreter and the setup's own folder.
# A failed step exits with the prologue's daskrun_setup_failed_exit whatever its own code
# (daskrun.bootstrap.SETUP_FAILED_EXIT says why).
# daskrun_trap_stop is the one place of the stop trap, set here and again by watchdog.sh: a
# stop (the deadline, the launcher's, the kubelet's) ends the setup at the running command's
# end, through the report, instead of going on to the next step.
# shellcheck disable=SC2154 # daskrun_setup_failed_exit: the prologue's (daskrun.shell_pieces)
# shellcheck disable=SC2034 # daskrun_python: the steps after the prelude run it
set -eu
daskrun_step=start
daskrun_watchdog=
daskrun_filter=
# shellcheck disable=SC2154 # daskrun_filter_end and daskrun_filter_fifo: filter.sh's, set with daskrun_filter
daskrun_settle() {
  if [ -n "$daskrun_watchdog" ]; then
    kill "$daskrun_watchdog" 2>/dev/null || true
    wait "$daskrun_watchdog" 2>/dev/null || true
    daskrun_watchdog=
  fi
  if [ -n "$daskrun_filter" ]; then
    printf '%s\n' "$daskrun_filter_end"
    exec 1>&3 2>&4 3>&- 4>&-
    wait "$daskrun_filter" || true
    daskrun_filter=
    rm -f "$daskrun_filter_fifo"
  fi
}
daskrun_report() {
  status=$?
  daskrun_settle
  if [ "$status" -ne 0 ]; then
    echo "daskrun-setup: step '$daskrun_step' failed with exit code $status" >&2
    exit "$daskrun_setup_failed_exit"
  fi
}
trap daskrun_report EXIT
daskrun_trap_stop() {
  trap 'exit 143' TERM
}
daskrun_trap_stop
step() {
  daskrun_step=$1
  echo "daskrun-setup: $(date -u +%H:%M:%S) running step '$1'" >&2
}
daskrun_python=$(command -v python3 || command -v python)
: "${DASKRUN_SETUP_DIR:=${HOME:-/tmp}/daskrun-setup}"
mkdir -p "$DASKRUN_SETUP_DIR"
