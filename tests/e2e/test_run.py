"""A run from `helm install` to its stored result, and how runs fail."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import boto3
import pandas as pd
import yaml

from cluster_tools import ADAPTIVE_RUN, REPO, SMALL_RUN, assert_retried_never_after, dask_clusters, dask_pods, kjson, kubectl, wait_until
from servers import free_port


def assert_seed_shape(table: pd.DataFrame, run=SMALL_RUN):
    """Rows = challenges, columns = tuners, every cell a score."""
    args = run["run"]["args"]
    assert list(table.index) == args["challenges"]
    assert list(table.columns) == args["tuners"]
    assert table.notna().all().all()


def assert_no_dask_left(namespace):
    wait_until(lambda: not dask_clusters(namespace), 90, what="DaskClusters to be deleted")
    wait_until(lambda: not dask_pods(namespace), 90, what="Dask pods to be deleted")


def test_the_example_stores_on_a_claim_the_chart_makes_and_its_result_outlives_the_pod(namespace, release, tmp_path):
    rel = release()
    # The README's example as it is (sized for a 2-CPU node), on a claim the chart makes of the
    # cluster's default StorageClass (the test cluster's provisioner, binding at first pod).
    example = yaml.safe_load((REPO / "values.example.yaml").read_text())
    config = dict(example, output={"path": "/results/bench.csv"})
    rel.install(config, outputVolume={"create": True})
    assert rel.wait() == "Complete", rel.launcher_log()
    log = rel.launcher_log()
    # The example starts once one of its two workers joined (wait_for_workers.minimum).
    assert re.search(r"workers joined: [12]/1", log) and "stored at /results/bench.csv" in log
    assert "goes with the pod" not in log
    assert_no_dask_left(namespace)
    claim = kjson("-n", namespace, "get", "pvc", f"{rel.name}-daskrun-output")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"], claim
    volume = kjson("get", "pv", claim["spec"]["volumeName"])
    stored = Path(volume["spec"]["hostPath"]["path"]) / "bench.csv"  # the single node's directory
    table = pd.read_csv(stored, index_col="challenge")
    assert table.notna().all().all() and len(table) == 8 and list(table.columns) == example["run"]["args"]["tuners"]

    status = rel.status()
    assert (status["phase"], status["exit_code"], status["result"]) == ("succeeded", 0, "/results/bench.csv")

    # The launcher pod is gone (evicted, a node drained, a user's clean-up): the result is not.
    kubectl("-n", namespace, "delete", "pods", "-l", f"job-name={rel.job_name()}", "--wait=true")
    assert not rel.pods()
    status = rel.status()
    assert (status["phase"], status["result"]) == (
        "succeeded", f"kept (its log went with the pod): daskrun result {rel.name} -o FILE fetches it"), status
    # Brought home through a short-lived pod that mounts the claim read-only.
    fetched = rel.daskrun("result", "-o", str(tmp_path / "fetched.csv"))
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "fetched.csv").read_bytes() == stored.read_bytes()
    assert f"from pvc/{rel.name}-daskrun-output:bench.csv" in fetched.stderr, fetched.stderr
    assert not kjson("-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=result-reader")["items"]

    # The claim is the release's: uninstall deletes it, and the provisioner its directory.
    assert rel.uninstall().returncode == 0
    wait_until(lambda: not stored.parent.exists(), 90, what="the volume's directory to be deleted")
    assert kubectl("get", "pv", volume["metadata"]["name"], check=False).returncode != 0


def test_a_default_install_keeps_its_result_beyond_the_pod_in_a_configmap_of_its_job(namespace, release, tmp_path):
    rel = release()
    # values.example.yaml as it is: output results/benchmark.csv in the launcher's home, an emptyDir.
    rel.install(yaml.safe_load((REPO / "values.example.yaml").read_text()))
    assert rel.wait() == "Complete", rel.launcher_log()
    job = rel.job_name()
    copy = f"{job}-result"
    assert f"a copy is kept in configmap/{copy}" in rel.launcher_log()
    assert "BEGIN DASKRUN RESULT" not in rel.launcher_log()  # the copy keeps it, not the log
    status = rel.status()
    assert status["result"] == f"in configmap/{copy} (the file went with the pod): daskrun result {rel.name} -o FILE"
    owners = kjson("-n", namespace, "get", "configmap", copy)["metadata"]["ownerReferences"]
    assert [(o["kind"], o["name"]) for o in owners] == [("Job", job)], owners

    # The launcher pod is gone, its filesystem and log with it: the Job's copy is not.
    kubectl("-n", namespace, "delete", "pods", "-l", f"job-name={job}", "--wait=true")
    assert not rel.pods()
    fetched = rel.daskrun("result", "-o", str(tmp_path / "benchmark.csv"))
    assert fetched.returncode == 0, fetched.stderr
    assert f"from configmap/{copy}" in fetched.stderr, fetched.stderr
    table = pd.read_csv(tmp_path / "benchmark.csv", index_col="challenge")
    assert table.notna().all().all() and len(table) == 8, table

    # Garbage collection takes it with the Job: uninstall leaves nothing behind.
    assert rel.uninstall().returncode == 0
    wait_until(lambda: kubectl("-n", namespace, "get", "configmap", copy, check=False).returncode != 0, 90,
               what="the result's copy to go with its Job")


def test_install_stores_in_s3_with_credentials_from_a_secret(namespace, release, s3_server, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="e2e", aws_secret_access_key="e2e",
                      region_name="us-east-1")
    bucket = f"results-{namespace}"[:63]
    s3.create_bucket(Bucket=bucket)
    rel = release()
    config = dict(SMALL_RUN, output={"path": "runs/bench.csv", "bucket": bucket, "endpoint_url": s3_server,
                                     "region": "us-east-1", "key": "AKIAE2EKEY", "secret_key": "e2e-secret-value"})
    rel.install(config)
    assert rel.wait() == "Complete", rel.launcher_log()
    body = s3.get_object(Bucket=bucket, Key="runs/bench.csv")["Body"].read()
    assert_seed_shape(pd.read_csv(io.BytesIO(body), index_col="challenge"))
    # The run report outlives the cluster, beside the result in the same bucket.
    html = s3.get_object(Bucket=bucket, Key="runs/bench.report.html")["Body"].read()
    assert b"Dask Performance Report" in html
    record = json.loads(s3.get_object(Bucket=bucket, Key="runs/bench.run.json")["Body"].read())
    assert record["exit_code"] == 0 and record["where"] == "kubernetes"
    phases = [p["phase"] for p in record["timeline"]]
    assert set(phases) >= {"cluster created", "scheduler running", "all workers joined", "result stored",
                           "cluster deleted"}, phases
    assert max(w["count"] for w in record["workers"]) == 2 and record["tasks"]["total"] > 0
    assert record["result"]["rows"] == len(SMALL_RUN["run"]["args"]["challenges"])
    log = rel.launcher_log()
    assert f"run report stored at s3://{bucket}/runs/bench.run.json" in log and "phases of this run:" in log
    assert "e2e-secret-value" not in json.dumps(record)
    # The credentials reached the pod only through the Secret.
    configmaps = kjson("-n", namespace, "get", "configmaps")["items"]
    assert not any("e2e-secret-value" in str(cm.get("data")) for cm in configmaps)
    job = rel.job()
    assert "e2e-secret-value" not in str(job) and "AKIAE2EKEY" not in str(job)
    assert "e2e-secret-value" not in rel.launcher_log()
    # Fetched with the caller's own credentials, not the release's.
    fetched = rel.daskrun("result", "-o", "-", env={"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e"})
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout.encode() == body and f"from s3://{bucket}/runs/bench.csv" in fetched.stderr
    assert rel.status()["result"] == f"s3://{bucket}/runs/bench.csv"
    # The report too, byte for byte what the run stored; its run.json says the status `status` says.
    fetched = rel.daskrun("report", "-o", str(tmp_path / "report"),
                          env={"AWS_ACCESS_KEY_ID": "e2e", "AWS_SECRET_ACCESS_KEY": "e2e"})
    assert fetched.returncode == 0, fetched.stderr
    assert (tmp_path / "report" / "bench.report.html").read_bytes() == html
    fetched_record = json.loads((tmp_path / "report" / "bench.run.json").read_text())
    assert fetched_record == record
    status = rel.status()
    for key in ("phase", "exit_code", "result"):
        assert record["status"][key] == status[key], key


def test_adaptive_workers_scale_up_under_load(namespace, release):
    rel = release()
    config = ADAPTIVE_RUN
    rel.install(config)
    seen = set()

    def workers_grew():
        seen.update(p["metadata"]["name"] for p in dask_pods(namespace, "app.kubernetes.io/component=dask-worker"))
        return len(seen) >= 2

    wait_until(workers_grew, 400, what="the autoscaler to add workers")
    assert rel.wait() == "Complete", rel.launcher_log()
    assert "adaptive scaling between 1 and 3 workers" in rel.launcher_log()


def test_deleted_worker_mid_run_still_completes_correctly(namespace, release):
    rel = release()
    config = {
        "run": {"function": "daskrun.examples.benchmark.run_benchmark",
                "args": {"iterations": 40, "challenges": ["blobs", "friedman", "branin", "ackley"],
                         "tuners": ["random", "grid"]}},
        "dask_cluster": {"workers": 2, "worker_config": {"resources": {"memory": "600M", "cpu": "200m"}}},
    }
    rel.install(config)
    workers = wait_until(lambda: [p for p in dask_pods(namespace, "app.kubernetes.io/component=dask-worker")
                                  if p["status"].get("phase") == "Running"][:1] and
                         "running daskrun.examples" in rel.launcher_log() and
                         dask_pods(namespace, "app.kubernetes.io/component=dask-worker"),
                         300, what="the run to start on running workers")
    victim = workers[0]["metadata"]["name"]
    kubectl("-n", namespace, "delete", "pod", victim, "--grace-period=0", "--force", "--wait=false")
    assert rel.wait() == "Complete", rel.launcher_log()
    log = rel.launcher_log()
    table = pd.read_csv(io.StringIO(subprocess.run(
        [sys.executable, "-m", "daskrun", "recover", "-"], input=log, capture_output=True, text=True,
        check=True).stdout), index_col="challenge")
    assert_seed_shape(table, config)


def test_s3_down_fails_at_once_with_the_result_in_the_log(namespace, release, host_ip, tmp_path):
    rel = release()
    dead = f"http://{host_ip}:{free_port()}"
    config = dict(SMALL_RUN, output={"path": "r.csv", "bucket": "nowhere", "endpoint_url": dead,
                                     "key": "k", "secret_key": "s"})
    rel.install(config, job={"backoffLimit": 3})
    assert rel.wait() == "Failed"
    job = rel.job()
    reasons = [c.get("reason") for c in job["status"]["conditions"]]
    assert "PodFailurePolicy" in reasons, reasons
    log = rel.logs()
    assert_retried_never_after(rel.pods(), 3)
    logfile = tmp_path / "run.log"
    logfile.write_text(log)
    recovered = subprocess.run([sys.executable, "-m", "daskrun", "recover", str(logfile)],
                               capture_output=True, text=True)
    assert recovered.returncode == 0, recovered.stderr
    assert_seed_shape(pd.read_csv(io.StringIO(recovered.stdout), index_col="challenge"))
    assert_no_dask_left(namespace)
    status = rel.status()
    assert (status["phase"], status["exit_code"]) == ("failed", 3), status
    assert status["result"] == f"in the log: daskrun recover --job {rel.job_name()} -o FILE"
    # A failed run's output path holds nothing of it: only the log is read.
    fetched = rel.daskrun("result", "-o", "-")
    assert fetched.returncode == 0, fetched.stderr
    assert fetched.stdout == recovered.stdout and "from the log of pod" in fetched.stderr


def test_function_raising_fails_the_job_and_cleans_up(namespace, release):
    rel = release()
    config = dict(SMALL_RUN, run={"function": "daskrun.examples.benchmark.run_benchmark",
                                  "args": {"challenges": ["no-such-challenge"]}})
    rel.install(config)
    assert rel.wait() == "Failed"
    log = rel.launcher_log()
    assert "Traceback" in log and "unknown challenges ['no-such-challenge']" in log
    assert_retried_never_after(rel.pods(), 1, log)
    assert_no_dask_left(namespace)


WATCHED_RUN = {
    "run": {"function": "daskrun.examples.load.sleep_tasks",
            "args": {"tasks": 30, "seconds": 3, "minimum": 2, "idle_timeout": 0}},
    "dask_cluster": SMALL_RUN["dask_cluster"],
}


def tasks_done(screen: str) -> int:
    found = re.search(r"\] (\d+)/\d+ tasks", screen)
    return int(found[1]) if found else 0


def test_submit_wait_in_a_terminal_shows_the_bar_move_and_watch_into_a_file_writes_plain_lines(
        namespace, release, tmp_path):
    """`daskrun submit --wait` in a real terminal (tmux): two screens differ in tasks done, the
    ETA appears, the last lines name the outcome and the next command; `daskrun watch` of the
    same run into a file writes timestamped lines without terminal codes. Both exit 0."""
    from cluster_tools import HELM, IMAGE_REPOSITORY, IMAGE_TAG
    from terminal import Terminal

    rel = release("watched")  # uninstalled by the fixture
    values = tmp_path / "submit.yaml"
    values.write_text(yaml.safe_dump({**WATCHED_RUN, "image": {"repository": IMAGE_REPOSITORY, "tag": IMAGE_TAG}}))
    daskrun = [sys.executable, "-m", "daskrun"]
    with Terminal(columns=150) as terminal, open(tmp_path / "watch.txt", "w") as piped:
        terminal.start([*daskrun, "submit", str(values), "-n", namespace, "--release", rel.name, "--wait"],
                       {"DASKRUN_HELM": HELM})
        first = terminal.wait_for(lambda screen: tasks_done(screen) > 0, 400, "the first tasks done")
        assert "daskrun watch watched" in first  # what submit printed above the display
        watcher = subprocess.Popen([*daskrun, "watch", rel.name, "-n", namespace], stdout=piped,
                                   stderr=subprocess.STDOUT)
        second = terminal.wait_for(lambda screen: tasks_done(screen) > tasks_done(first) and "ETA" in screen,
                                   120, "the bar to move and an ETA")
        assert re.search(r"workers 2/2  \[#*-*\] \d+/30 tasks  [\d.]+ tasks/s, ETA \d+m\d\ds", second), second
        assert terminal.wait_exit(300) == 0, terminal.screen()
        final = terminal.screen()
        assert watcher.wait(120) == 0
    assert re.search(r"watched revision 1 succeeded \(exit 0: [^)]+\) after \d+m\d\ds", final), final
    assert f"next: daskrun result watched -n {namespace} -o FILE" in final
    plain = (tmp_path / "watch.txt").read_text()
    assert "\x1b" not in plain and re.search(r"tasks \([\d.]+ tasks/s, ETA", plain), plain
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in plain.splitlines()), plain
    assert "watched revision 1 succeeded (exit 0" in plain
    rel.revision = 1
    assert rel.wait() == "Complete"


def test_a_result_printed_by_the_second_attempt_is_recovered_from_the_job(namespace, release):
    """The first attempt cannot start its workers (a quota leaves room for launcher and
    scheduler only) and exits 4; the Job retries once the quota is gone, and the second
    attempt prints the result. `daskrun recover --job` finds it, `kubectl logs job/...` may not."""
    kubectl("-n", namespace, "create", "quota", "two-pods", "--hard=pods=2")
    rel = release()
    config = dict(SMALL_RUN, dask_cluster={**SMALL_RUN["dask_cluster"], "wait_for_workers": {"timeout": 20}})
    rel.install(config, job={"backoffLimit": 2})

    def first_failed():
        return [p for p in rel.pods() if p["status"].get("phase") == "Failed"]

    [first] = wait_until(first_failed, 240, what="the first attempt to fail")
    kubectl("-n", namespace, "delete", "quota", "two-pods")
    assert rel.wait() == "Complete", rel.launcher_log()
    pods = sorted(rel.pods(), key=lambda p: p["metadata"]["creationTimestamp"])
    assert len(pods) == 2 and pods[0]["metadata"]["name"] == first["metadata"]["name"]
    [status] = first["status"]["containerStatuses"]
    assert status["state"]["terminated"]["exitCode"] == 4
    first_log = kubectl("-n", namespace, "logs", first["metadata"]["name"]).stdout
    assert "BEGIN DASKRUN RESULT" not in first_log and "only 0 of 2 workers joined" in first_log
    shown = rel.daskrun("logs", "--all-attempts")
    assert shown.returncode == 0, shown.stderr
    first_at = shown.stdout.index(f"==> attempt 1 of 2: pod {pods[0]['metadata']['name']} <==")
    second_at = shown.stdout.index(f"==> attempt 2 of 2: pod {pods[1]['metadata']['name']} <==")
    assert first_at < shown.stdout.index("only 0 of 2 workers joined") < second_at
    assert shown.stdout.index("BEGIN DASKRUN RESULT") > second_at
    recovered = rel.recover()
    assert recovered.returncode == 0, recovered.stderr
    assert f"the result of attempt 2 of 2 (pod {pods[1]['metadata']['name']})" in recovered.stderr
    assert_seed_shape(pd.read_csv(io.StringIO(recovered.stdout), index_col="challenge"))
