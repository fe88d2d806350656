# shellcheck shell=sh
# Credentials for private repositories and indexes are read from the environment
# (daskrun.credentials; a Secret in pods), written to files only the setup's user can read
# (git_credentials.sh, pip_credentials.sh), and removed and unset here before the command
# the script ends in starts (finale.sh): the Dask process and the user's code never see them.
# On a failure too: the EXIT trap forgets them, then reports as prelude.sh's does.
# daskrun_exported collects the variables the credential pieces export; the prologue's
# daskrun_secret_names are daskrun.credentials.ENV, every variable that may hold one.
# shellcheck disable=SC2154 # daskrun_secret_names: the prologue's
daskrun_exported=
daskrun_forget_credentials() {
  rm -f "$DASKRUN_SETUP_DIR/git-askpass" "$DASKRUN_SETUP_DIR/git-ssh-key" \
    "$DASKRUN_SETUP_DIR/git-known-hosts" "$DASKRUN_SETUP_DIR/netrc"
  # shellcheck disable=SC2086 # lists of names, split into words on purpose
  unset $daskrun_exported $daskrun_secret_names
}
# shellcheck disable=SC2154 # daskrun_status: the trap's own, assigned first (shellcheck misses it)
trap 'daskrun_status=$?; set +e; daskrun_forget_credentials; (exit $daskrun_status); daskrun_report' EXIT
