"""secret.yaml and the launcher's AWS variables: credentials stay in their Secret."""

from __future__ import annotations

import base64
import json

from chart_render import (
    FULLNAME,
    KEY,
    S3,
    SECRET_KEY,
    by_kind,
    env_of,
    one,
    render_chart,
    run_container,
)


def test_no_credential_outside_the_secret():
    values = {"output": {**S3, "key": KEY, "secret_key": SECRET_KEY}}
    objects = render_chart(values)
    for obj in objects:
        if obj["kind"] == "Secret":
            continue
        text = json.dumps(obj)
        for secret in (KEY, SECRET_KEY, base64.b64encode(SECRET_KEY.encode()).decode()):
            assert secret not in text, f"{obj['kind']} {obj['metadata']['name']} holds a credential"
    container = run_container(objects)
    for entry in container["env"]:
        assert "value" not in entry or entry["value"] not in (KEY, SECRET_KEY)


def test_secret_created_from_output_keys():
    objects = render_chart({"output": {**S3, "key": KEY, "secret_key": SECRET_KEY}})
    secret = one(objects, "Secret")
    assert secret["metadata"]["name"] == f"{FULLNAME}-credentials"
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    env = env_of(run_container(objects))
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": f"{FULLNAME}-credentials", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "secretKeyRef": {"name": f"{FULLNAME}-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
    }


def test_existing_secret_wiring():
    objects = render_chart({"output": S3, "credentials": {"existingSecret": "s3-creds"}})
    assert not by_kind(objects, "Secret")
    env = env_of(run_container(objects))
    assert env["AWS_ACCESS_KEY_ID"] == {"secretKeyRef": {"name": "s3-creds", "key": "AWS_ACCESS_KEY_ID"}}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"secretKeyRef": {"name": "s3-creds", "key": "AWS_SECRET_ACCESS_KEY"}}


def test_no_credentials_env_without_keys():
    objects = render_chart({"output": S3})
    assert not by_kind(objects, "Secret")
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} & set(env_of(run_container(objects)))
