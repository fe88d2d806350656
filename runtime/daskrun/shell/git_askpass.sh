#!/bin/sh
# git's GIT_ASKPASS program (git_credentials.sh writes it to the setup's folder): the user
# name, or DASKRUN_GIT_USERNAME's default of daskrun.credentials.DEFAULT_GIT_USERNAME, then
# the token, both from the environment, so neither is ever written to a file.
case "$1" in
  Username*) printf '%s\n' "${DASKRUN_GIT_USERNAME:-x-access-token}" ;;
  *) printf '%s\n' "$DASKRUN_GIT_TOKEN" ;;
esac
