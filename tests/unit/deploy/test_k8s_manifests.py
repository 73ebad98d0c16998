"""Render every kustomize overlay, validate each resource against the Kubernetes JSON schemas, and
hold the manifests to the deployment rules (write key in the gateway alone, probes, resources,
hardened security contexts, single-instance quoter, risk and gateway, marketdata shard counts, network policies)."""

from pathlib import Path

import pytest

from tests.unit.deploy.tools import K8S, OVERLAYS, kustomize_build

K8S_VERSION = "1.30"
WORKLOADS = ("Deployment", "StatefulSet", "Job")
WRITE_KEY = "kalshi-write-key"
READ_KEY = "kalshi-read-key"


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, kustomize_build(K8S / "overlays" / request.param)


def pod_spec(res: dict) -> dict:
    return res["spec"]["template"]["spec"]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in WORKLOADS]


def ident(res: dict) -> str:
    return f"{res['kind']}/{res['metadata'].get('namespace', '-')}/{res['metadata']['name']}"


def secret_refs(spec: dict) -> set[str]:
    """Every Secret a pod spec can read: volumes, projected volumes, env and envFrom."""
    names = set()
    for v in spec.get("volumes", []):
        if "secret" in v:
            names.add(v["secret"]["secretName"])
        for src in v.get("projected", {}).get("sources", []):
            if "secret" in src:
                names.add(src["secret"]["name"])
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for e in c.get("env", []):
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for ef in c.get("envFrom", []):
            if "secretRef" in ef:
                names.add(ef["secretRef"]["name"])
    return names


def test_every_resource_validates_against_kubernetes_schemas(rendered: tuple[str, list[dict]]) -> None:
    kv = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (K8s JSON schemas)")
    from kubernetes_validate.utils import ValidationError

    name, docs = rendered
    assert len(docs) > 40, f"overlay {name} rendered only {len(docs)} resources"
    errors = []
    for d in docs:
        try:
            kv.validate(d, K8S_VERSION, strict=True)
        except ValidationError as e:
            errors.append(f"{ident(d)}: {'.'.join(map(str, e.path))}: {e.message}")
    assert not errors, "\n".join(errors)


def test_write_key_is_mounted_by_the_gateway_alone(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    users = {ident(w) for w in workloads(docs) if WRITE_KEY in secret_refs(pod_spec(w))}
    assert users == {"Deployment/kmm-exec/gateway"}
    gateway = next(w for w in workloads(docs) if w["metadata"]["name"] == "gateway")
    mounts = {m["name"]: m for m in pod_spec(gateway)["containers"][0]["volumeMounts"]}
    assert mounts[WRITE_KEY]["readOnly"] is True
    # The gateway's namespace holds no other workload (a namespace is the boundary for mounting Secrets).
    assert [ident(w) for w in workloads(docs) if w["metadata"]["namespace"] == "kmm-exec"] == [ident(gateway)]
    # No manifest carries key material: the Secret is created out of band.
    assert not [d for d in docs if d["kind"] == "Secret"]


def test_read_key_is_mounted_by_marketdata_alone(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    users = {ident(w) for w in workloads(docs) if READ_KEY in secret_refs(pod_spec(w))}
    assert users == {"StatefulSet/kmm/marketdata"}


def test_every_workload_has_probes_resources_and_hardened_security(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    problems = []
    for w in workloads(docs):
        spec = pod_spec(w)
        if spec.get("automountServiceAccountToken") is not False:
            problems.append(f"{ident(w)}: automountServiceAccountToken is not false")
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{ident(w)}: pod securityContext not runAsNonRoot + seccomp RuntimeDefault")
        for c in spec["containers"]:
            where = f"{ident(w)}[{c['name']}]"
            csc = c.get("securityContext", {})
            if not (csc.get("readOnlyRootFilesystem") is True and csc.get("allowPrivilegeEscalation") is False
                    and csc.get("capabilities", {}).get("drop") == ["ALL"]):
                problems.append(f"{where}: securityContext not hardened")
            res = c.get("resources", {})
            for kind in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(res.get(kind, {})):
                    problems.append(f"{where}: missing {kind}")
            if w["kind"] != "Job":
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    if probe not in c:
                        problems.append(f"{where}: missing {probe}")
    assert not problems, "\n".join(problems)


def test_kmm_services_probe_livez_and_readyz(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    services = [w for w in workloads(docs) if w["kind"] != "Job"
                and w["spec"]["template"]["metadata"]["labels"].get("kmm/metrics") == "true"]
    assert {w["metadata"]["name"] for w in services} == {"marketdata", "selector", "quoter", "risk", "gateway"}
    for w in services:
        c = pod_spec(w)["containers"][0]
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez", ident(w)
        assert c["startupProbe"]["httpGet"]["path"] == "/livez", ident(w)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", ident(w)


def test_risk_and_gateway_are_single_instances_recreated(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    for name in ("risk", "gateway"):
        (w,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        assert w["spec"]["replicas"] == 1
        assert w["spec"]["strategy"] == {"type": "Recreate"}


def test_marketdata_shard_count_equals_replicas(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    (w,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "marketdata"]
    env = {e["name"]: e for e in pod_spec(w)["containers"][0]["env"]}
    assert int(env["KMM_SHARD_COUNT"]["value"]) == w["spec"]["replicas"]
    assert "pod-index" in env["KMM_SHARD_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]


def test_the_quoter_is_one_replica_and_not_told_to_shard(rendered: tuple[str, list[dict]]) -> None:
    """Two quoters would both quote every market and split the fill reports of its consumer groups."""
    _, docs = rendered
    (w,) = [d for d in docs if d["metadata"]["name"] == "quoter" and d["kind"] in WORKLOADS]
    assert w["spec"]["replicas"] == 1
    env = {e["name"] for e in pod_spec(w)["containers"][0]["env"]}
    assert not env & {"KMM_SHARD_INDEX", "KMM_SHARD_COUNT"}


def test_redis_is_7_0_with_acl_secret_aof_and_noeviction(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    (redis,) = [d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "redis"]
    c = pod_spec(redis)["containers"][0]
    assert c["image"] == "redis:7.0"
    assert "redis-acl" in secret_refs(pod_spec(redis))
    (conf,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("redis-config")]
    lines = set(conf["data"]["redis.conf"].splitlines())
    assert {"appendonly yes", "maxmemory-policy noeviction", "aclfile /etc/redis/acl/users.acl"} <= lines


def test_bootstrap_job_uses_the_admin_user(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    (job,) = [d for d in docs if d["kind"] == "Job"]
    c = pod_spec(job)["containers"][0]
    assert c["args"] == ["bootstrap"]
    assert {"name": "KMM_REDIS_USERNAME", "value": "admin"} in c["env"]


def _policies(docs: list[dict], ns: str) -> list[dict]:
    return [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["namespace"] == ns]


def test_every_namespace_denies_by_default(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    namespaces = {d["metadata"]["name"] for d in docs if d["kind"] == "Namespace"}
    assert namespaces == {"kmm", "kmm-exec", "kmm-monitoring"}
    for ns in namespaces:
        deny = [p for p in _policies(docs, ns) if p["spec"]["podSelector"] == {}
                and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, f"no default-deny policy in {ns}"


def _port_443_egress_pods(docs: list[dict]) -> set[str]:
    pods = set()
    for p in (d for d in docs if d["kind"] == "NetworkPolicy"):
        for rule in p["spec"].get("egress", []):
            if any(port.get("port") == 443 for port in rule.get("ports", [])) or not rule.get("ports"):
                sel = p["spec"]["podSelector"].get("matchLabels", {})
                pods.add(f"{p['metadata']['namespace']}/{sel.get('app.kubernetes.io/name', '*')}")
    return pods


def test_only_marketdata_and_gateway_reach_the_exchange(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    assert _port_443_egress_pods(docs) == {"kmm/marketdata", "kmm-exec/gateway"}


def test_redis_ingress_only_from_labelled_clients(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    rules = [p for p in _policies(docs, "kmm")
             if p["spec"]["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/name") == "redis"]
    (policy,) = rules
    (ingress,) = policy["spec"]["ingress"]
    (peer,) = ingress["from"]
    assert peer["podSelector"] == {"matchLabels": {"kmm/redis-client": "true"}}
    redis_clients = {w["metadata"]["name"] for w in workloads(docs)
                     if w["spec"]["template"]["metadata"]["labels"].get("kmm/redis-client") == "true"}
    assert redis_clients == {"marketdata", "selector", "quoter", "risk", "gateway", "kmm-bootstrap"}


def test_kustomize_generators_read_only_inside_their_root() -> None:
    """Load restrictor: no kustomization names a file above its own directory."""
    import yaml

    for path in K8S.parent.rglob("kustomization.yaml"):
        k = yaml.safe_load(path.read_text())
        for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
            for f in gen.get("files", []):
                src = f.split("=", 1)[-1]
                assert ".." not in Path(src).parts, f"{path}: {f}"


def test_services_listen_on_all_interfaces_explicitly(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    for w in workloads(docs):
        if w["spec"]["template"]["metadata"]["labels"].get("kmm/metrics") != "true":
            continue
        env = {e["name"]: e.get("value") for e in pod_spec(w)["containers"][0]["env"]}
        assert env.get("KMM_HTTP_HOST") == "0.0.0.0", ident(w)  # the default is 127.0.0.1


def test_the_admin_token_secret_is_mounted_by_risk_alone(rendered: tuple[str, list[dict]]) -> None:
    _, docs = rendered
    users = {ident(w) for w in workloads(docs) if "risk-admin-token" in secret_refs(pod_spec(w))}
    assert users == {"Deployment/kmm/risk"}
    (risk,) = [w for w in workloads(docs) if w["metadata"]["name"] == "risk"]
    spec = pod_spec(risk)
    (volume,) = [v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == "risk-admin-token"]
    c = spec["containers"][0]
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == volume["name"]]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert mount["readOnly"] is True
    assert env["KMM_ADMIN_TOKEN_FILE"] == f"{mount['mountPath']}/token"
