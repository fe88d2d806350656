# shellcheck shell=sh
# Secrets reach the setup through the environment, and git, pip or the user's install command
# may print one: from here on the setup's output goes through daskrun.redact_stream (the
# prologue's daskrun_redact_program), run by the pod's own Python, before it reaches the pod's
# log. The filter ends at a line of this script's own (daskrun_filter_end, printed by
# prelude.sh's daskrun_settle), before the Dask process starts: it must not outlive the setup
# with the secrets in its environment.
# shellcheck disable=SC2154 # daskrun_redact_program: the prologue's; daskrun_python: prelude.sh's
# shellcheck disable=SC2034 # daskrun_filter: prelude.sh's daskrun_settle waits for it
daskrun_filter_fifo="$DASKRUN_SETUP_DIR/setup-output"
daskrun_filter_end="daskrun-setup-end:$$:$(date +%s)"
rm -f "$daskrun_filter_fifo"
"$daskrun_python" -c 'import os, sys; os.mkfifo(sys.argv[1], 0o600)' "$daskrun_filter_fifo"
"$daskrun_python" -c "$daskrun_redact_program" "$daskrun_filter_end" <"$daskrun_filter_fifo" >&2 &
daskrun_filter=$!
exec 3>&1 4>&2 >"$daskrun_filter_fifo" 2>&1
