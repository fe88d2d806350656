# shellcheck shell=sh
# The index password (daskrun.credentials.PIP_ENV) in a netrc file only the setup's user can
# read, one line for each of the prologue's daskrun_pip_hosts (the index hosts and those of
# direct URLs, separated by spaces: host names hold none, nor does the loop glob them);
# forget_credentials.sh removes it again. The default user is
# daskrun.credentials.DEFAULT_PIP_USERNAME.
# shellcheck disable=SC2154 # daskrun_pip_hosts: the prologue's
# shellcheck disable=SC2034 # daskrun_step: read by prelude.sh's report
daskrun_step=pip_credentials
if [ -n "${DASKRUN_PIP_PASSWORD:-}" ]; then
  # shellcheck disable=SC2086 # the host names, split into words on purpose
  (umask 077 && set -f && : > "$DASKRUN_SETUP_DIR/netrc" && for daskrun_host in $daskrun_pip_hosts; do
    printf 'machine %s login %s password %s\n' "$daskrun_host" \
      "${DASKRUN_PIP_USERNAME:-__token__}" "$DASKRUN_PIP_PASSWORD" >> "$DASKRUN_SETUP_DIR/netrc"
  done)
  # uv and pip both read the netrc file NETRC names.
  export NETRC="$DASKRUN_SETUP_DIR/netrc"
  daskrun_exported="$daskrun_exported NETRC"
fi
