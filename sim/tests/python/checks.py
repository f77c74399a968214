"""Everyday calls of the official Kubernetes Python client against a running simulator.

Usage: python3 checks.py KUBECONFIG

Prints one line per call, tab-separated: `ok`, or `FAIL` and the reason, then its name.
Every list and read deserialises the objects into the client's models, so a field the
OpenAPI schema requires and the simulator leaves out fails the call.
"""

import base64
import sys
import traceback

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

NS = "3scale"


def main():
    config.load_kube_config(config_file=sys.argv[1])
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    custom = client.CustomObjectsApi()

    def pod_of(deployment):
        pods = core.list_namespaced_pod(NS, label_selector=f"deployment={deployment}").items
        running = [p for p in pods if p.status.phase == "Running" and not p.metadata.deletion_timestamp]
        assert running, f"no running pod for {deployment}"
        return running[0].metadata.name

    def version():
        info = client.VersionApi().get_code()
        assert info.major == "1" and info.minor, info
        return info.git_version

    def list_namespaces():
        names = [n.metadata.name for n in core.list_namespace().items]
        assert NS in names and "default" in names, names
        return ",".join(names)

    def list_pods():
        pods = core.list_namespaced_pod(NS).items
        assert len(pods) >= 15, len(pods)
        for p in pods:
            for s in p.status.container_statuses or []:
                assert s.image and s.image_id is not None and s.name, s
        return f"{len(pods)} pods"

    def read_pod():
        name = pod_of("system-mysql")
        pod = core.read_namespaced_pod(name, NS)
        assert pod.spec.containers[0].name == "system-mysql", pod.spec.containers
        return name

    def pods_by_label():
        pods = core.list_namespaced_pod(NS, label_selector="deployment=system-app").items
        assert len(pods) == 1, len(pods)
        names = [c.name for c in pods[0].spec.containers]
        assert names == ["system-master", "system-provider", "system-developer"], names
        assert len(pods[0].status.container_statuses) == 3
        return ",".join(names)

    def read_deployment():
        d = apps.read_namespaced_deployment("system-redis", NS)
        s = apps.read_namespaced_deployment_status("system-redis", NS)
        assert d.spec.replicas == 1 and s.status.available_replicas == 1, s.status
        return f"generation {d.metadata.generation}"

    def patch_replicas():
        d = apps.patch_namespaced_deployment("system-searchd", NS, {"spec": {"replicas": 2}})
        assert d.spec.replicas == 2, d.spec.replicas
        scale = apps.patch_namespaced_deployment_scale("system-searchd", NS, {"spec": {"replicas": 1}})
        assert scale.spec.replicas == 1, scale.spec
        return "2 then 1"

    def config_maps():
        names = [c.metadata.name for c in core.list_namespaced_config_map(NS).items]
        conf = core.read_namespaced_config_map("redis-config", NS)
        assert "redis-config" in names and "appendonly" in conf.data["redis.conf"], names
        return f"{len(names)} ConfigMaps"

    def secrets():
        names = [s.metadata.name for s in core.list_namespaced_secret(NS).items]
        db = core.read_namespaced_secret("system-database", NS)
        assert base64.b64decode(db.data["DB_PASSWORD"]), db.data.keys()
        return f"{len(names)} Secrets"

    def apimanager():
        am = custom.get_namespaced_custom_object("apps.3scale.net", "v1alpha1", NS, "apimanagers", "3scale")
        assert am["kind"] == "APIManager", am.get("kind")
        patched = custom.patch_namespaced_custom_object(
            "apps.3scale.net", "v1alpha1", NS, "apimanagers", "3scale",
            {"metadata": {"annotations": {"sim.example/python-check": "seen"}}},
        )
        assert patched["metadata"]["annotations"]["sim.example/python-check"] == "seen"
        return am["metadata"]["annotations"].get("apps.3scale.net/apimanager-threescale-version", "")

    def services_and_claims():
        services = [s.metadata.name for s in core.list_namespaced_service(NS).items]
        claims = core.list_namespaced_persistent_volume_claim(NS).items
        assert "system-mysql" in services and "system-master" in services, services
        storage = [c for c in claims if c.metadata.name == "system-storage"]
        assert storage and storage[0].spec.access_modes == ["ReadWriteMany"], claims
        return f"{len(services)} Services, {len(claims)} claims"

    def exec_str_stdin():
        ws = stream(
            core.connect_get_namespaced_pod_exec, pod_of("system-redis"), NS,
            command=["cat"], stdin=True, stdout=True, stderr=True, tty=False,
            _preload_content=False,
        )
        ws.write_stdin("a str, sent as a text frame\n")
        ws.close_channel(0)
        ws.run_forever(timeout=20)
        out = ws.read_stdout()
        assert out == "a str, sent as a text frame\n", repr(out)
        assert ws.returncode == 0, ws.returncode
        return ws.subprotocol

    def exec_named_container():
        out = stream(
            core.connect_get_namespaced_pod_exec, pod_of("system-app"), NS,
            container="system-developer",
            command=["sh", "-c", "touch /opt/system/public/system/py-check 2>&1; true"],
            stdin=False, stdout=True, stderr=True, tty=False,
        )
        assert "Read-only file system" in out, repr(out)
        return "read-only in system-developer"

    def exec_without_container():
        pod = pod_of("system-app")
        try:
            stream(
                core.connect_get_namespaced_pod_exec, pod, NS,
                command=["true"], stdin=False, stdout=True, stderr=True, tty=False,
            )
        except ApiException as e:
            expected = (
                f"a container name must be specified for pod {pod}, "
                "choose one of: [system-master system-provider system-developer]"
            )
            assert "400" in str(e.reason) and expected in str(e.reason), e.reason
            return "400"
        raise AssertionError("exec without a container on system-app was accepted")

    def watch_deployments():
        seen = set()
        w = watch.Watch()
        for event in w.stream(apps.list_namespaced_deployment, NS, timeout_seconds=3):
            seen.add(event["object"].metadata.name)
            if len(seen) >= 15:
                w.stop()
        assert len(seen) >= 15, seen
        return f"{len(seen)} deployments"

    def replica_sets():
        items = apps.list_namespaced_replica_set(NS).items
        assert items, "no ReplicaSets"
        return f"{len(items)} ReplicaSets"

    def events():
        items = core.list_namespaced_event(NS).items
        assert items, "no Events"
        return f"{len(items)} Events"

    checks = [
        ("version", version),
        ("list namespaces", list_namespaces),
        ("list pods", list_pods),
        ("read a pod", read_pod),
        ("list pods by label selector", pods_by_label),
        ("read a Deployment and its status", read_deployment),
        ("patch a Deployment's replicas", patch_replicas),
        ("list and read ConfigMaps", config_maps),
        ("list and read Secrets", secrets),
        ("read and patch the APIManager", apimanager),
        ("list Services and PersistentVolumeClaims", services_and_claims),
        ("exec with a str stdin", exec_str_stdin),
        ("exec in a named container of system-app", exec_named_container),
        ("exec without a container on system-app is a 400", exec_without_container),
        ("watch Deployments", watch_deployments),
        ("list ReplicaSets", replica_sets),
        ("list Events", events),
    ]
    for name, check in checks:
        try:
            detail = check()
            print(f"ok\t{name}\t{detail}", flush=True)
        except ApiException as e:
            print(f"FAIL\t{name}\tHTTP {e.status} {e.reason}".replace("\n", " "), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the list
            reason = f"{type(e).__name__}: {e}".replace("\n", " ")
            print(f"FAIL\t{name}\t{reason}", flush=True)
            traceback.print_exc(file=sys.stderr)


if __name__ == "__main__":
    main()
