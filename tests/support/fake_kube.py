"""A tiny stand-in for the Kubernetes API on loopback, for `daskrun preflight`,
`daskrun submit --wait`, `daskrun result` and ownership tests: API discovery of the dask group,
SelfSubjectAccessReviews, Jobs (read by name, or listed by label selector), ConfigMaps, pods
(listed or read by name; `forbidden_pods` answers 403) and their logs, ConfigMaps created
(409 when the name exists; 403 when ("", "configmaps", "", "create") is in `denied`) and
deleted, pods created (only when
`run_pod` is set: it is given the manifest and returns the phase the pod ends in and its log,
as a reader pod would) and deleted (named in `deleted_pods`), DaskWorkerGroups (marked as an
operator would when `operator_marks` is set).
Real HTTP, the real `kubernetes` client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DASK_RESOURCES = ("daskclusters", "daskworkergroups", "daskautoscalers")


class FakeKube:
    def __init__(self) -> None:
        self.crds = set(DASK_RESOURCES)
        self.denied: set[tuple[str, str, str, str]] = set()  # (group, resource, subresource, verb)
        self.reviews: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.pods: list[dict[str, Any]] = []
        self.logs: dict[str, str] = {}
        self.worker_groups: dict[str, dict[str, Any]] = {}
        self.config_maps: dict[str, dict[str, Any]] = {}
        self.config_map_delay = 0.0  # seconds before a ConfigMap create is answered (an API server away)
        self.operator_marks: dict[str, Any] | None = None  # metadata an operator adds to new objects
        self.forbidden_pods = False
        self.unavailable = False  # every GET answered 503, as an API server away for a moment
        self.run_pod: Callable[[dict[str, Any]], tuple[str, str]] | None = None
        self.created_pods: list[dict[str, Any]] = []
        self.deleted_pods: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "fake",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": "runs"}}],
                    "users": [{"name": "fake", "user": {"token": "fake-token"}}],
                }
            )
        )
        return path

    def __enter__(self) -> FakeKube:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _not_found(self) -> None:
                self._send(
                    404,
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "status": "Failure",
                        "message": f"{self.path} not found",
                        "reason": "NotFound",
                        "code": 404,
                    },
                )

            def do_GET(self) -> None:  # noqa: N802
                if fake.unavailable:
                    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503}
                    return self._send(
                        503, {**status, "message": "the server is currently unable to handle the request"}
                    )
                url = urlparse(self.path)
                parts = url.path.strip("/").split("/")
                if url.path == "/apis/kubernetes.dask.org/v1":
                    if not fake.crds:
                        return self._not_found()
                    return self._send(
                        200,
                        {
                            "kind": "APIResourceList",
                            "apiVersion": "v1",
                            "groupVersion": "kubernetes.dask.org/v1",
                            "resources": [
                                {
                                    "name": name,
                                    "singularName": name[:-1],
                                    "namespaced": True,
                                    "kind": name,
                                    "verbs": ["get", "list", "watch", "create", "patch", "delete"],
                                }
                                for name in sorted(fake.crds)
                            ],
                        },
                    )
                if parts[:4] == ["apis", "batch", "v1", "namespaces"] and parts[5:] == ["jobs"]:
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    items = [j for j in fake.jobs.values() if _selected(j, selector)]
                    return self._send(
                        200, {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": items}
                    )
                if parts[:3] == ["api", "v1", "namespaces"] and parts[4:5] == ["configmaps"] and len(parts) == 6:
                    config_map = fake.config_maps.get(parts[5])
                    return self._send(200, config_map) if config_map else self._not_found()
                if parts[:4] == ["apis", "batch", "v1", "namespaces"] and len(parts) == 7:
                    job = fake.jobs.get(parts[6])
                    return self._send(200, job) if job else self._not_found()
                if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"]:
                    selector = parse_qs(url.query).get("labelSelector", [""])[0]
                    wanted = dict(item.split("=", 1) for item in selector.split(",") if item)
                    items = [
                        p
                        for p in fake.pods
                        if all(p["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
                    ]
                    return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": items})
                if (
                    parts[:4] == ["apis", "kubernetes.dask.org", "v1", "namespaces"]
                    and len(parts) == 7
                    and parts[5] == "daskworkergroups"
                ):
                    group = fake.worker_groups.get(parts[6])
                    if group is not None and fake.operator_marks:
                        for key, value in fake.operator_marks.items():
                            group["metadata"][key] = value
                    return self._send(200, group) if group else self._not_found()
                if parts[:3] == ["api", "v1", "namespaces"] and parts[4:5] == ["pods"] and len(parts) == 6:
                    if fake.forbidden_pods:
                        return self._send(
                            403,
                            {
                                "kind": "Status",
                                "apiVersion": "v1",
                                "status": "Failure",
                                "message": f'pods "{parts[5]}" is forbidden: User cannot get',
                                "reason": "Forbidden",
                                "code": 403,
                            },
                        )
                    found = [
                        p
                        for p in fake.pods
                        if p["metadata"]["name"] == parts[5] and p["metadata"].get("namespace") == parts[3]
                    ]
                    return self._send(200, found[0]) if found else self._not_found()
                if parts[:3] == ["api", "v1", "namespaces"] and len(parts) == 7 and parts[6] == "log":
                    return self._send(200, fake.logs.get(parts[5], ""), "text/plain")
                return self._not_found()

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.startswith("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"):
                    attrs = body["spec"]["resourceAttributes"]
                    fake.reviews.append(attrs)
                    key = (attrs.get("group", ""), attrs["resource"], attrs.get("subresource", ""), attrs["verb"])
                    body["status"] = {"allowed": key not in fake.denied}
                    return self._send(201, body)
                parts = self.path.strip("/").split("/")
                if parts[:4] == ["apis", "kubernetes.dask.org", "v1", "namespaces"] and parts[5:] == [
                    "daskworkergroups"
                ]:
                    body["metadata"].update(namespace=parts[4], resourceVersion="1")
                    fake.worker_groups[body["metadata"]["name"]] = body
                    return self._send(201, body)
                if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["configmaps"]:
                    return self._create_config_map(parts[3], body)
                if parts[:3] == ["api", "v1", "namespaces"] and parts[4:] == ["pods"] and fake.run_pod is not None:
                    fake.created_pods.append(body)
                    phase, log = fake.run_pod(body)
                    body["metadata"]["namespace"] = parts[3]
                    body["status"] = {"phase": phase}
                    fake.pods.append(body)
                    fake.logs[body["metadata"]["name"]] = log
                    return self._send(201, body)
                return self._not_found()

            def _status(self, code: int, reason: str, message: str) -> None:
                status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code}
                self._send(code, {**status, "reason": reason, "message": message})

            def _create_config_map(self, namespace: str, body: dict[str, Any]) -> None:
                name = body["metadata"]["name"]
                time.sleep(fake.config_map_delay)
                if ("", "configmaps", "", "create") in fake.denied:
                    return self._status(403, "Forbidden", f'configmaps is forbidden: cannot create in "{namespace}"')
                if name in fake.config_maps:
                    return self._status(409, "AlreadyExists", f'configmaps "{name}" already exists')
                body["metadata"].update(namespace=namespace, resourceVersion="1")
                fake.config_maps[name] = body
                return self._send(201, body)

            def do_DELETE(self) -> None:  # noqa: N802
                name = self.path.strip("/").split("/")[-1].split("?")[0]
                if "/configmaps/" in self.path:
                    if fake.config_maps.pop(name, None) is None:
                        return self._not_found()
                    return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})
                if self.path.startswith("/api/v1/namespaces/") and "/pods/" in self.path:
                    gone = [p for p in fake.pods if p["metadata"]["name"] == name]
                    if not gone:
                        return self._not_found()
                    fake.pods[:] = [p for p in fake.pods if p["metadata"]["name"] != name]
                    fake.deleted_pods.append(name)
                    return self._send(200, gone[0])  # a pod's DELETE answers the pod, as it goes
                if fake.worker_groups.pop(name, None) is None:
                    return self._not_found()
                return self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        return Handler


def _selected(obj: dict[str, Any], selector: str) -> bool:
    """Whether `obj`'s labels match a selector of `key=value` and bare `key` (exists) terms."""
    labels = obj.get("metadata", {}).get("labels", {})
    for term in filter(None, selector.split(",")):
        key, equals, value = term.partition("=")
        if key not in labels or (equals and labels[key] != value):
            return False
    return True


def job(name: str, *, active: int = 0, succeeded: int = 0, failed: int = 0, condition: str | None = None) -> dict:
    status: dict[str, Any] = {"active": active, "succeeded": succeeded, "failed": failed}
    if condition:
        status["conditions"] = [
            {
                "type": condition,
                "status": "True",
                "reason": "PodFailurePolicy" if condition == "Failed" else "Completed",
                "message": "container daskrun exited with 3" if condition == "Failed" else "",
            }
        ]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "runs"},
        "spec": {"template": {"spec": {"containers": []}}},
        "status": status,
    }


def pod(
    name: str, job_name: str, phase: str, exit_code: int | None = None, created: str = "2026-01-01T00:00:00Z"
) -> dict:
    statuses = []
    if exit_code is not None:
        statuses = [
            {
                "name": "daskrun",
                "ready": False,
                "restartCount": 0,
                "image": "daskrun",
                "imageID": "",
                "state": {"terminated": {"exitCode": exit_code}},
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "runs", "labels": {"job-name": job_name}, "creationTimestamp": created},
        "spec": {"containers": [{"name": "daskrun"}]},
        "status": {"phase": phase, "containerStatuses": statuses},
    }
