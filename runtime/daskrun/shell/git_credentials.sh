# shellcheck shell=sh
# git's credentials (daskrun.credentials.GIT_ENV): a token through an askpass program (the
# prologue's daskrun_git_askpass, git_askpass.sh), or a deploy key with its known hosts in
# files only the setup's user can read; forget_credentials.sh removes them again.
# shellcheck disable=SC2154 # daskrun_git_askpass: the prologue's
# shellcheck disable=SC2034 # daskrun_step: read by prelude.sh's report
daskrun_step=git_credentials
export GIT_TERMINAL_PROMPT=0  # a missing or wrong token fails at once instead of waiting
daskrun_exported="$daskrun_exported GIT_TERMINAL_PROMPT"
if [ -n "${DASKRUN_GIT_TOKEN:-}" ]; then
  printf '%s' "$daskrun_git_askpass" > "$DASKRUN_SETUP_DIR/git-askpass"
  chmod 700 "$DASKRUN_SETUP_DIR/git-askpass"
  export GIT_ASKPASS="$DASKRUN_SETUP_DIR/git-askpass"
  daskrun_exported="$daskrun_exported GIT_ASKPASS"
fi
if [ -n "${DASKRUN_GIT_SSH_KEY:-}" ]; then
  if ! command -v ssh >/dev/null 2>&1; then
    echo "daskrun-setup: DASKRUN_GIT_SSH_KEY is set but the image has no ssh client; install openssh-client" >&2
    exit 1
  fi
  (umask 077 && printf '%s\n' "$DASKRUN_GIT_SSH_KEY" > "$DASKRUN_SETUP_DIR/git-ssh-key")
  if [ -n "${DASKRUN_GIT_KNOWN_HOSTS:-}" ]; then
    printf '%s\n' "$DASKRUN_GIT_KNOWN_HOSTS" > "$DASKRUN_SETUP_DIR/git-known-hosts"
  else
    echo "daskrun-setup: DASKRUN_GIT_KNOWN_HOSTS is empty: only hosts in the image's ssh_known_hosts are trusted" >&2
    : > "$DASKRUN_SETUP_DIR/git-known-hosts"
  fi
  # Never StrictHostKeyChecking=no: an unknown host key fails the clone. Single quotes: git's
  # shell expands the folder when it runs ssh.
  # shellcheck disable=SC2016
  export GIT_SSH_COMMAND='ssh -i "$DASKRUN_SETUP_DIR/git-ssh-key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$DASKRUN_SETUP_DIR/git-known-hosts"'
  export DASKRUN_SETUP_DIR
  daskrun_exported="$daskrun_exported GIT_SSH_COMMAND"
fi
