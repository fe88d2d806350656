# shellcheck shell=sh
# A virtual environment in the setup directory over the image's: where pip and
# git_repository.install put packages when the root filesystem is read-only. Its python comes
# first on PATH, so the Dask process exec'd at the end runs in it. pip, not uv: pip sees the
# image's packages beneath and adds only what is missing, uv would install every dependency
# again (and another numpy than the scheduler's). The prologue's daskrun_base_site_program
# (daskrun.bootstrap.BASE_SITE_PROGRAM) prints the .pth lines that show it the image's
# packages; daskrun_pip_shim (pip_shim.sh) is its `pip`.
# shellcheck disable=SC2154 # the prologue's variables, above; daskrun_python: prelude.sh's
step writable_environment
daskrun_overlay="$DASKRUN_SETUP_DIR/environment"
"$daskrun_python" -m venv --without-pip "$daskrun_overlay"
daskrun_site=$("$daskrun_overlay/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$daskrun_python" -c "$daskrun_base_site_program" > "$daskrun_site/_daskrun_base_environment.pth"
printf %s "$daskrun_pip_shim" > "$daskrun_overlay/bin/pip"
chmod 755 "$daskrun_overlay/bin/pip"
daskrun_python="$daskrun_overlay/bin/python"
PATH="$daskrun_overlay/bin:$PATH"
DASKRUN_PIP_INSTALLER=pip
export PATH DASKRUN_PIP_INSTALLER
