#!/bin/sh
# Prints the chart's appVersion, the tag of the image the chart runs. The Makefile and the
# cluster scripts read it here instead of typing it again; tests/unit/test_version.py keeps it
# equal to pyproject.toml's version and daskrun.__version__.
set -eu
sed -n 's/^appVersion: *"*\([^"]*\)"*$/\1/p' "$(dirname "$0")/../chart/Chart.yaml"
