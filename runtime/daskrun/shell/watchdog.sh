# shellcheck shell=sh
# The setup's deadline: one process in the background (daskrun.stop_descendants) that waits,
# then stops what the setup started, so the running step fails and the script ends through its
# report. One process with SIGTERM's default action, so the kill that ends it when the setup
# is done (prelude.sh's daskrun_settle) works at any instant: a shell function waiting on a
# sleep ran its TERM trap only when the signal came during the `wait`, and one that came just
# before it was lost (the setup then waited for the whole deadline, seen under load).
# Forked with TERM at its default action: a child still holds its shell's signal handlers
# until it resets them, and dash drops a TERM that lands in that moment, so the settle's kill
# was lost and the watchdog slept out the whole deadline (tests hung for it under load; a
# loop of fork-then-kill under the trap lost most kills, with the reset none). So the trap is
# taken away for the fork and set again right after.
# Takes daskrun_timeout, daskrun_timeout_key and daskrun_stop_program from the prologue, and
# daskrun_python and daskrun_filter (a pid to spare, or empty) from prelude.sh and filter.sh.
# shellcheck disable=SC2154 # the prologue's and prelude.sh's variables, above
# shellcheck disable=SC2034 # daskrun_watchdog: prelude.sh's daskrun_settle stops it
daskrun_deadline_message="daskrun-setup: setup still running after $daskrun_timeout s: stopped; raise $daskrun_timeout_key if it needs longer"
trap - TERM
"$daskrun_python" -c "$daskrun_stop_program" --after "$daskrun_timeout" "$daskrun_deadline_message" "$$" "$daskrun_filter" </dev/null &
daskrun_watchdog=$!
daskrun_trap_stop
