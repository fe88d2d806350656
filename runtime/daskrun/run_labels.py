"""The labels and annotations that tie a run's Kubernetes objects together."""

# Helm's release name on every object of a release (the chart's selectorLabels), and on the
# Dask cluster made for it.
INSTANCE_LABEL = "app.kubernetes.io/instance"
RUN_LABEL = "daskrun.io/run"
JOB_LABEL = "daskrun.io/job-uid"  # the launcher's Job, see daskrun.ownership
REVISION_LABEL = "daskrun.io/revision"  # the Helm revision (run id) the cluster was made for
# The embedded controller only handles objects with this label set to its own run, so two
# runs in one namespace never act on each other's clusters. The DaskCluster is created
# without it and labelled once the launcher claims it (daskrun.controller_choice); the
# objects the embedded controller creates inherit it.
CONTROLLER_LABEL = "daskrun.io/controller"
# Set by the launcher that told the driver to call the function: a later launcher that
# finds a fresh driver knows the scheduler pod was replaced (daskrun.reattach).
STARTED_ANNOTATION = "daskrun.io/function-started"
# Set on the launcher's Job once a pod of it has kept the result, before the Dask cluster is
# deleted: a pod started after that (its predecessor killed during the clean-up) does not run
# the function again (daskrun.kept_mark).
KEPT_ANNOTATION = "daskrun.io/result-kept"
