# shellcheck shell=sh
# The end of every setup script: the deadline and the filter stopped, the credentials forgotten
# (forget_credentials.sh, where the script has it), then the command given to the script (the
# Dask process) in its place.
# shellcheck disable=SC2034 # daskrun_step: read by prelude.sh's report if the settle fails
daskrun_step='done'
daskrun_settle
echo "daskrun-setup: $(date -u +%H:%M:%S) done" >&2
trap - EXIT TERM
if command -v daskrun_forget_credentials >/dev/null 2>&1; then daskrun_forget_credentials; fi
if [ "$#" -gt 0 ]; then exec "$@"; fi
