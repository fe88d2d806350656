"""The labels and annotations that tie a run's Kubernetes objects together.

The chart writes and selects on the same names through chart/templates/_contract.tpl
(daskrun.chart_contract), so a name here is the only place it is spelled.
"""

# Helm's release name on every object of a release (the chart's selectorLabels), and on the
# Dask cluster made for it.
INSTANCE_LABEL = "app.kubernetes.io/instance"
# What a pod is within the run: the chart's NetworkPolicy selects the Dask pods by it, and
# the scheduling report names a pod's role by it.
COMPONENT_LABEL = "app.kubernetes.io/component"
SCHEDULER_COMPONENT = "dask-scheduler"
WORKER_COMPONENT = "dask-worker"
# The Dask cluster's objects are made by daskrun, not Helm: the NetworkPolicy selects on it
# so a pod of the release that Helm made (the launcher) is never taken for a Dask pod.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "daskrun"
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
# Written by the chart only, kept here with the rest of daskrun.io/ so no name of the
# prefix is typed twice: the hash of the run's values on the Job and its pods (the chart's
# daskrun.runHash) and the controller mode on the launcher's Role.
RUN_HASH_LABEL = "daskrun.io/run-hash"
CONTROLLER_MODE_ANNOTATION = "daskrun.io/controller-mode"
