"""The Kubernetes manifests: the Helm chart (deploy/helm/safepath) rendered by Helm's own
engine, and the CloudNativePG cluster (deploy/k8s/postgres-cluster.yaml).

- The chart is linted and rendered by helm-python-sdk (Helm's Go SDK in a wheel; no
  cluster, no helm binary), with its values.schema.json enforced as `helm template` does.
- Every rendered object is validated, strictly (unknown fields refused), against the
  Kubernetes JSON schemas bundled in kubernetes-validate, for the oldest Kubernetes the
  chart accepts and the newest bundled. Offline once the dev extra is installed.
- The rules of the chart are then checked on the objects: replicas (two, spread over
  machines, under a PodDisruptionBudget), probes, resources, security contexts, Secrets
  by reference only (named as deploy/k8s/README.md makes them), every SAFEPATH_*
  variable a real setting, the migrate hook, NetworkPolicies.
- The CNPG `Cluster` is checked against the fields its CRD declares for what it uses
  (a subset schema written here; the CRD itself is not vendored).
"""

from __future__ import annotations

import copy
import ipaddress
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from services.notify.config import NotifySettings
from services.referral.config import ReferralSettings
from services.web.config import WebSettings
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "safepath"
K8S = ROOT / "deploy" / "k8s"
SERVICES = ("case", "referral", "notify")
OLDEST = "1.28.0"  # Chart.yaml kubeVersion
K8S_VERSIONS = (OLDEST, kubernetes_validate.latest_version())
# Secret names deploy/k8s/README.md creates (kubectl create secret generic <name>)
README_SECRETS = (
    "safepath-keys",
    "safepath-event-verify-keys",
    "safepath-nats-setup",
    "safepath-case-bus",
    "safepath-referral-bus",
    "safepath-notify-bus",
)

Manifest = dict[str, Any]


def render(values: dict[str, Any] | None = None, name: str = "safepath") -> list[Manifest]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values or {}, name=name, namespace="safepath")
    docs: list[Manifest] = []
    for path, text in sorted(files.items()):
        if path.endswith(".txt"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def of_kind(docs: list[Manifest], kind: str, *, web: bool = False) -> dict[str, Manifest]:
    """Objects of ``kind`` by component; the web app's (tests/deploy/test_web_chart.py)
    only when ``web``: it has no database, bus or keys, and its own replica rules."""
    return {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in docs
        if d["kind"] == kind
        and (web or d["metadata"]["labels"]["app.kubernetes.io/component"] != "web")
    }


@pytest.fixture(scope="module")
def docs() -> list[Manifest]:
    return render()


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in c["env"]}


# --- Helm and the Kubernetes schemas ---------------------------------------------------


def test_helm_lint_finds_nothing_above_info() -> None:
    report = helm.lint(str(CHART))
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] > 1] == []


def test_the_chart_renders_what_a_release_needs(docs: list[Manifest]) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == sorted(
        [("Deployment", f"safepath-{s}") for s in SERVICES]
        + [("Service", f"safepath-{s}") for s in SERVICES]
        + [("NetworkPolicy", f"safepath-{s}") for s in (*SERVICES, "migrate")]
        + [("PodDisruptionBudget", f"safepath-{s}") for s in SERVICES]
        + [("Job", "safepath-migrate")]
        + [(k, "safepath-web") for k in ("Deployment", "Service", "NetworkPolicy")]
    )
    # the chart never carries a secret value
    assert not [d for d in docs if d["kind"] in ("Secret", "ConfigMap")]


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_object_is_valid_kubernetes(docs: list[Manifest], version: str) -> None:
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']} (Kubernetes {version}): {e}")


def test_the_validator_refuses_a_broken_object(docs: list[Manifest]) -> None:
    deployment = copy.deepcopy(of_kind(docs, "Deployment")["case"])
    container(deployment)["imagePulPolicy"] = "Always"  # a typo: strict refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(of_kind(docs, "Deployment")["case"])
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)


@pytest.mark.parametrize(
    "values",
    [
        {"services": {"case": {"replicas": 0}}},
        {"nats": {"url": "nats://user:password@nats:4222"}},  # credentials go in .creds
        {"securityContext": {"readOnlyRootFilesystem": False}},
        {"image": {"digest": "latest"}},
        {"replicas": 3},  # not a value of this chart
        {"podDisruptionBudget": {"minAvailable": 0}},  # a budget that protects nothing
        {"podDisruptionBudget": {"minAvailable": "all"}},
    ],
)
def test_the_values_schema_refuses_bad_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(values)


# --- the services ----------------------------------------------------------------------


def pod_labels(deployment: Manifest) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def only_this_service(selector: dict[str, str], svc: str, deployments: dict[str, Manifest]) -> None:
    """``selector`` picks the pods of ``svc`` and of no other service or release."""
    for other, d in deployments.items():
        assert (selector.items() <= pod_labels(d).items()) == (other == svc), (svc, other)
    assert selector["app.kubernetes.io/instance"] == "safepath"


def test_replicas_of_a_service_are_spread_over_machines(docs: list[Manifest]) -> None:
    deployments = of_kind(docs, "Deployment")
    for svc, d in deployments.items():
        (spread,) = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["maxSkew"] == 1
        # preferred: on a single-node cluster the second replica still starts
        assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
        only_this_service(spread["labelSelector"]["matchLabels"], svc, deployments)


def test_a_budget_keeps_one_pod_of_each_service_through_a_drain(docs: list[Manifest]) -> None:
    deployments = of_kind(docs, "Deployment")
    budgets = of_kind(docs, "PodDisruptionBudget")
    assert set(budgets) == set(SERVICES)
    for svc, pdb in budgets.items():
        assert pdb["spec"]["minAvailable"] == 1
        assert "maxUnavailable" not in pdb["spec"]
        # below the replicas, or no node could ever be drained
        assert pdb["spec"]["minAvailable"] < deployments[svc]["spec"]["replicas"]
        only_this_service(pdb["spec"]["selector"]["matchLabels"], svc, deployments)


def test_no_budget_for_a_single_replica_or_when_disabled() -> None:
    docs = render({"services": {"referral": {"replicas": 1}}})
    assert set(of_kind(docs, "PodDisruptionBudget")) == {"case", "notify"}
    assert of_kind(docs, "Deployment")["referral"]["spec"]["replicas"] == 1
    docs = render({"podDisruptionBudget": {"enabled": False}})
    assert of_kind(docs, "PodDisruptionBudget") == {}
    docs = render({"podDisruptionBudget": {"minAvailable": "50%"}})
    assert {p["spec"]["minAvailable"] for p in of_kind(docs, "PodDisruptionBudget").values()} == {
        "50%"
    }


def test_deployments_replicas_probes_resources(docs: list[Manifest]) -> None:
    deployments = of_kind(docs, "Deployment")
    assert set(deployments) == set(SERVICES)
    for svc, d in deployments.items():
        # several replicas are correct together (docs/architecture.md, "Replicas")
        assert d["spec"]["replicas"] == 2, svc
        assert d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        c = container(d)
        assert c["image"] == "registry.example.org/safepath:0.1.0"  # appVersion
        assert c["command"] == ["python", "-m", f"services.{svc}"]
        assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        # services wait up to 60 s for the streams before they answer at all
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
        resources = c["resources"]
        assert set(resources["requests"]) == {"cpu", "memory"}
        assert "memory" in resources["limits"]


def test_pods_run_non_root_read_only_without_capabilities(docs: list[Manifest]) -> None:
    pods = [d["spec"]["template"] for d in of_kind(docs, "Deployment").values()]
    pods.append(of_kind(docs, "Job")["migrate"]["spec"]["template"])
    for pod in pods:
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            # the only writable place is a small in-memory /tmp
            mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
            writable = [p for p, m in mounts.items() if not m.get("readOnly")]
            assert writable == ["/tmp"]


SECRET_SETTINGS = (
    "SAFEPATH_DATABASE_URL",
    "SAFEPATH_EVENT_SIGNING_KEY",
    "SAFEPATH_EVENT_VERIFY_KEYS",
    "SAFEPATH_JWT_SECRET",
    "SAFEPATH_MASTER_KEY",
    "SAFEPATH_CASE_REFERENCE_KEY",
    "SAFEPATH_AUDIT_SIGNING_KEY",
)


def secret_ref(env: dict[str, Manifest], name: str) -> tuple[str, str]:
    ref = env[name]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_each_service_gets_its_own_bus_secret_and_the_shared_keys(docs: list[Manifest]) -> None:
    for svc, d in of_kind(docs, "Deployment").items():
        c = container(d)
        env = env_of(c)
        assert env["SAFEPATH_ENVIRONMENT"]["value"] == "production"
        for name in SECRET_SETTINGS:
            assert "value" not in env[name], f"{svc}: {name} in clear"
        assert secret_ref(env, "SAFEPATH_EVENT_SIGNING_KEY") == (
            f"safepath-{svc}-bus",
            "event-signing-key",
        )
        assert secret_ref(env, "SAFEPATH_EVENT_VERIFY_KEYS") == (
            "safepath-event-verify-keys",
            "keys",
        )
        assert secret_ref(env, "SAFEPATH_DATABASE_URL") == ("safepath-db-app", "uri")
        for name, key in (
            ("SAFEPATH_JWT_SECRET", "jwt-secret"),
            ("SAFEPATH_MASTER_KEY", "master-key"),
            ("SAFEPATH_CASE_REFERENCE_KEY", "case-reference-key"),
            ("SAFEPATH_AUDIT_SIGNING_KEY", "audit-signing-key"),
        ):
            assert secret_ref(env, name) == ("safepath-keys", key), (svc, name)
        # its own .creds file, mounted where SAFEPATH_NATS_CREDENTIALS points; nothing else
        creds = Path(env["SAFEPATH_NATS_CREDENTIALS"]["value"])
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(creds.parent))
        volume = next(
            v for v in d["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
        )
        assert volume["secret"]["secretName"] == f"safepath-{svc}-bus"
        assert volume["secret"]["items"] == [{"key": "nats.creds", "path": creds.name}]
        assert env["SAFEPATH_STREAM_REPLICAS"]["value"] == "3"
        servers = env["SAFEPATH_NATS_URL"]["value"].split(",")
        assert servers == [f"nats://nats-{i}.nats-headless:4222" for i in range(3)]


def test_every_setting_the_chart_sets_exists(docs: list[Manifest]) -> None:
    """A misspelt SAFEPATH_* variable would be ignored silently (extra="ignore")."""
    known = {f"SAFEPATH_{f.upper()}" for f in Settings.model_fields}
    known |= {f"SAFEPATH_REFERRAL_{f.upper()}" for f in ReferralSettings.model_fields}
    known |= {f"SAFEPATH_NOTIFY_{f.upper()}" for f in NotifySettings.model_fields}
    known |= {f"SAFEPATH_WEB_{f.upper()}" for f in WebSettings.model_fields}
    values = {
        "auth": {"jwksUrl": "https://id.example.org/jwks"},
        "nats": {"tls": {"secretName": "nats-client-tls", "mutual": True}},
    }
    for rendered in (docs, render(values)):
        pods = [d["spec"]["template"] for d in rendered if d["kind"] in ("Deployment", "Job")]
        for pod in pods:
            for c in pod["spec"]["containers"]:
                for e in c["env"]:
                    assert e["name"] in known, f"{e['name']} is not a setting"


def test_the_secrets_the_chart_needs_are_the_ones_the_readme_makes(docs: list[Manifest]) -> None:
    referenced: set[str] = set()
    for d in docs:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        spec = d["spec"]["template"]["spec"]
        referenced |= {v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        for c in spec["containers"]:
            for e in c["env"]:
                if "valueFrom" in e:
                    referenced.add(e["valueFrom"]["secretKeyRef"]["name"])
    # the database Secret comes from the CNPG operator; the others from the README
    assert referenced == {*README_SECRETS, "safepath-db-app"}
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    for name in README_SECRETS:
        if name.endswith("-bus"):  # made in a loop over the services
            assert "for s in case referral notify" in readme and "$k safepath-$s-bus " in readme
        else:
            assert f"$k {name} " in readme, f"deploy/k8s/README.md makes no {name}"


def test_options_jwks_replicas_digest_tls() -> None:
    docs = render(
        {
            "auth": {"jwksUrl": "https://id.example.org/.well-known/jwks.json"},
            "services": {
                "notify": {"replicas": 3, "env": {"SAFEPATH_NOTIFY_DELIVERY_WORKERS": 16}}
            },
            "image": {"digest": "sha256:" + "ab" * 32},
            "nats": {"tls": {"secretName": "nats-client-tls"}},
            "networkPolicy": {"enabled": False},
            "migrate": {"enabled": False},
        }
    )
    deployments = of_kind(docs, "Deployment")
    assert deployments["notify"]["spec"]["replicas"] == 3
    assert deployments["case"]["spec"]["replicas"] == 2
    assert len(of_kind(docs, "PodDisruptionBudget")) == 3
    for svc, d in deployments.items():
        env = env_of(container(d))
        assert "SAFEPATH_JWT_SECRET" not in env
        assert env["SAFEPATH_JWKS_URL"]["value"].startswith("https://id.example.org/")
        assert container(d)["image"] == "registry.example.org/safepath@sha256:" + "ab" * 32
        assert env["SAFEPATH_NATS_TLS_CA_FILE"]["value"] == "/etc/safepath/nats-tls/ca.crt"
        assert "SAFEPATH_NATS_TLS_CERT_FILE" not in env
        assert ("SAFEPATH_NOTIFY_DELIVERY_WORKERS" in env) == (svc == "notify")
    assert not [d for d in docs if d["kind"] in ("NetworkPolicy", "Job")]
    for version in K8S_VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_services_route_to_their_deployments(docs: list[Manifest]) -> None:
    deployments = of_kind(docs, "Deployment")
    for svc, s in of_kind(docs, "Service").items():
        pod_labels = deployments[svc]["spec"]["template"]["metadata"]["labels"]
        assert s["spec"]["selector"].items() <= pod_labels.items()
        assert s["spec"]["ports"] == [
            {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}
        ]


def test_a_release_under_another_name_keeps_its_objects_apart() -> None:
    docs = render(name="pilot")
    names = {d["metadata"]["name"] for d in docs}
    assert "pilot-safepath-case" in names and "pilot-safepath-migrate" in names
    for d in docs:
        if d["kind"] == "Deployment":
            assert d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "pilot"


# --- the migrate Job -------------------------------------------------------------------


def test_the_migrate_job_is_a_hook_with_the_setup_credentials(docs: list[Manifest]) -> None:
    job = of_kind(docs, "Job")["migrate"]
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    spec = job["spec"]["template"]["spec"]
    assert spec["restartPolicy"] == "Never"
    (c,) = spec["containers"]
    assert c["command"] == ["safepath", "migrate"]
    env = env_of(c)
    creds = Path(env["SAFEPATH_NATS_CREDENTIALS"]["value"])
    assert creds.name == "setup.creds"
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(creds.parent))
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "safepath-nats-setup"
    assert volume["secret"]["items"] == [{"key": "setup.creds", "path": "setup.creds"}]
    # the Job holds no service's identity or keys
    assert not {"SAFEPATH_EVENT_SIGNING_KEY", "SAFEPATH_MASTER_KEY"} & set(env)
    assert env["SAFEPATH_STREAM_REPLICAS"]["value"] == "3"
    # its NetworkPolicy exists before it (a hook of lower weight)
    policy = of_kind(docs, "NetworkPolicy")["migrate"]
    assert policy["metadata"]["annotations"]["helm.sh/hook"] == annotations["helm.sh/hook"]
    assert int(policy["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        annotations["helm.sh/hook-weight"]
    )


# --- NetworkPolicies ---------------------------------------------------------------------


def selects(policy: Manifest, labels: dict[str, str]) -> bool:
    return policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()


def ports(rule: Manifest) -> set[tuple[str, int]]:
    return {(p["protocol"], p["port"]) for p in rule["ports"]}


def test_each_pod_is_under_exactly_one_policy_both_ways(docs: list[Manifest]) -> None:
    policies = list(of_kind(docs, "NetworkPolicy", web=True).values())
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            labels = d["spec"]["template"]["metadata"]["labels"]
            mine = [p for p in policies if selects(p, labels)]
            assert len(mine) == 1, d["metadata"]["name"]
            assert mine[0]["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_ingress_only_from_the_ingress_controller_and_the_web_app_on_8000(
    docs: list[Manifest],
) -> None:
    policies = of_kind(docs, "NetworkPolicy")
    deployments = of_kind(docs, "Deployment")
    web = of_kind(docs, "Deployment", web=True)["web"]
    for svc in SERVICES:
        rule, from_web = policies[svc]["spec"]["ingress"]
        # the web app calls the APIs (with the person's token), and only it
        assert ports(from_web) == {("TCP", 8000)}
        (web_pods,) = from_web["from"]
        only_this_service(
            web_pods["podSelector"]["matchLabels"], "web", {**deployments, "web": web}
        )
        assert ports(rule) == {("TCP", 8000)}
        (source,) = rule["from"]
        assert source["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "ingress-nginx"
        }
        assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "ingress-nginx"}
        # no service is let in from another: they meet on NATS only
        for other in deployments.values():
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert not source["podSelector"]["matchLabels"].items() <= other_labels.items()
    assert policies["migrate"]["spec"]["ingress"] == []


def test_egress_only_to_dns_nats_postgres_and_notify_to_public_https(
    docs: list[Manifest],
) -> None:
    for svc, policy in of_kind(docs, "NetworkPolicy").items():
        rules = policy["spec"]["egress"]
        for rule in rules:  # a rule without `to` or `ports` would open everything
            assert rule.get("to") and rule.get("ports"), svc
        dns, nats, postgres, *rest = rules
        assert ports(dns) == {("UDP", 53), ("TCP", 53)}
        assert dns["to"][0]["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        assert ports(nats) == {("TCP", 4222)}
        assert nats["to"] == [
            {
                "podSelector": {
                    "matchLabels": {
                        "app.kubernetes.io/name": "nats",
                        "app.kubernetes.io/instance": "nats",
                        "app.kubernetes.io/component": "nats",
                    }
                }
            }
        ]
        assert ports(postgres) == {("TCP", 5432)}
        assert postgres["to"] == [
            {"podSelector": {"matchLabels": {"cnpg.io/cluster": "safepath-db"}}}
        ]
        if svc != "notify":
            assert rest == [], svc
            continue
        (webhooks,) = rest
        assert ports(webhooks) == {("TCP", 443)}
        (block,) = webhooks["to"]
        assert block["ipBlock"]["cidr"] == "0.0.0.0/0"
        excluded = [ipaddress.ip_network(n) for n in block["ipBlock"]["except"]]
        for private in ("10.1.2.3", "172.20.0.1", "192.168.1.1", "169.254.169.254", "127.0.0.1"):
            assert any(ipaddress.ip_address(private) in n for n in excluded), private
        assert not any(ipaddress.ip_address("93.184.216.34") in n for n in excluded)


# --- NATS and Postgres next to the chart ------------------------------------------------


def test_nats_values_keep_three_jetstream_replicas_the_chart_connects_to() -> None:
    values = yaml.safe_load((K8S / "nats-values.yaml").read_text(encoding="utf-8"))
    assert values["config"]["cluster"]["enabled"] is True
    assert values["config"]["cluster"]["replicas"] == 3
    assert values["config"]["jetstream"]["enabled"] is True
    chart = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert chart["nats"]["streamReplicas"] == values["config"]["cluster"]["replicas"]
    assert len(chart["nats"]["url"].split(",")) == values["config"]["cluster"]["replicas"]


# The fields of the CNPG `Cluster` (postgresql.cnpg.io/v1) this repository uses, with the
# types and enums its CRD declares (CloudNativePG 1.27-1.30); anything else is refused.
CNPG_CLUSTER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "postgresql.cnpg.io/v1"},
        "kind": {"const": "Cluster"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["instances"],
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": {"type": "string"},
                "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                "enableSuperuserAccess": {"type": "boolean"},
                "bootstrap": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "initdb": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "database": {"type": "string"},
                                "owner": {"type": "string"},
                                "dataChecksums": {"type": "boolean"},
                                "secret": {
                                    "type": "object",
                                    "required": ["name"],
                                    "properties": {"name": {"type": "string"}},
                                },
                            },
                        }
                    },
                },
                "postgresql": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "parameters": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                        },
                        "synchronous": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["method", "number"],
                            "properties": {
                                "method": {"enum": ["any", "first"]},
                                "number": {"type": "integer", "minimum": 1},
                                "dataDurability": {"enum": ["required", "preferred"]},
                            },
                        },
                    },
                },
                "storage": {"$ref": "#/$defs/storage"},
                "walStorage": {"$ref": "#/$defs/storage"},
                "affinity": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enablePodAntiAffinity": {"type": "boolean"},
                        "podAntiAffinityType": {"enum": ["preferred", "required"]},
                        "topologyKey": {"type": "string"},
                    },
                },
                "resources": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "requests": {"$ref": "#/$defs/quantities"},
                        "limits": {"$ref": "#/$defs/quantities"},
                    },
                },
            },
        },
    },
    "$defs": {
        "quantity": {
            "type": ["string", "integer"],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE])?$",
        },
        "quantities": {"type": "object", "additionalProperties": {"$ref": "#/$defs/quantity"}},
        "storage": {
            "type": "object",
            "additionalProperties": False,
            "required": ["size"],
            "properties": {
                "size": {"$ref": "#/$defs/quantity"},
                "storageClass": {"type": "string"},
            },
        },
    },
}


@pytest.fixture(scope="module")
def cnpg() -> Manifest:
    loaded: Manifest = yaml.safe_load((K8S / "postgres-cluster.yaml").read_text(encoding="utf-8"))
    return loaded


def test_the_postgres_cluster_is_a_valid_cnpg_cluster_of_three(cnpg: Manifest) -> None:
    jsonschema.Draft202012Validator(CNPG_CLUSTER).validate(cnpg)
    spec = cnpg["spec"]
    assert spec["instances"] == 3
    assert spec["affinity"]["enablePodAntiAffinity"] is True
    assert spec["affinity"]["podAntiAffinityType"] == "required"
    assert spec["postgresql"]["synchronous"]["number"] >= 1
    assert spec["enableSuperuserAccess"] is False
    # the subset schema is live: an unknown or mistyped field is refused
    for broken in (
        {"instance": 3},
        {"instances": "3"},
        {"affinity": {"podAntiAffinityType": "hard"}},
    ):
        bad = copy.deepcopy(cnpg)
        bad["spec"].update(broken)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(CNPG_CLUSTER).validate(bad)


def test_the_chart_finds_the_postgres_cluster(cnpg: Manifest, docs: list[Manifest]) -> None:
    name = cnpg["metadata"]["name"]
    env = env_of(container(of_kind(docs, "Deployment")["case"]))
    # CNPG writes the application Secret `<cluster>-app` with the connection URL in `uri`
    assert secret_ref(env, "SAFEPATH_DATABASE_URL") == (f"{name}-app", "uri")
    assert cnpg["spec"]["bootstrap"]["initdb"]["database"] == "safepath"
    postgres = of_kind(docs, "NetworkPolicy")["case"]["spec"]["egress"][2]
    assert postgres["to"][0]["podSelector"]["matchLabels"] == {"cnpg.io/cluster": name}
    assert cnpg["metadata"]["namespace"] == "safepath"
