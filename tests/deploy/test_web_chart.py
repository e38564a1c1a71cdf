"""The web app in the Helm chart and in deploy/compose.yaml: it runs the image's
``python -m services.web`` on the container port, reaches the three APIs by their
Services, signs in through OIDC only, and holds no database, bus or key beyond the
token verifier; its NetworkPolicy lets it reach the APIs and nothing else of ours."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from services.web.config import WebSettings
from services.web.main import check_production
from shared.settings import Settings
from tests.deploy.test_manifests import container, env_of, of_kind, render

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def docs() -> list[Manifest]:
    return render()


def web_of(docs: list[Manifest], kind: str) -> Manifest:
    return of_kind(docs, kind, web=True)["web"]


def test_the_web_deployment_runs_the_web_app_with_oidc_and_no_development_sign_in(
    docs: list[Manifest],
) -> None:
    d = web_of(docs, "Deployment")
    c = container(d)
    assert c["command"] == ["python", "-m", "services.web"]
    assert c["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    env = env_of(c)
    assert env["SAFEPATH_WEB_PORT"]["value"] == "8000"
    assert env["SAFEPATH_ENVIRONMENT"]["value"] == "production"
    assert env["SAFEPATH_WEB_DEV_SIGN_IN"]["value"] == "false"
    for svc in ("case", "referral", "notify"):
        assert env[f"SAFEPATH_WEB_{svc.upper()}_URL"]["value"] == f"http://safepath-{svc}:8000"
    assert set(of_kind(docs, "Service", web=True)) >= {"case", "referral", "notify", "web"}
    assert env["SAFEPATH_WEB_OIDC_ISSUER"]["value"].startswith("https://")
    assert env["SAFEPATH_WEB_PUBLIC_URL"]["value"] == "https://safepath.example.org"
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    known = {f"SAFEPATH_{f.upper()}" for f in Settings.model_fields}
    known |= {f"SAFEPATH_WEB_{f.upper()}" for f in WebSettings.model_fields}
    assert set(env) <= known


def test_the_web_pod_holds_no_database_bus_or_key_but_the_token_verifier(
    docs: list[Manifest],
) -> None:
    d = web_of(docs, "Deployment")
    c = container(d)
    env = env_of(c)
    for name in (
        "SAFEPATH_DATABASE_URL",
        "SAFEPATH_NATS_URL",
        "SAFEPATH_NATS_CREDENTIALS",
        "SAFEPATH_EVENT_SIGNING_KEY",
        "SAFEPATH_MASTER_KEY",
        "SAFEPATH_CASE_REFERENCE_KEY",
        "SAFEPATH_AUDIT_SIGNING_KEY",
    ):
        assert name not in env, name
    ref = env["SAFEPATH_JWT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("safepath-keys", "jwt-secret")
    spec = d["spec"]["template"]["spec"]
    assert not [v for v in spec["volumes"] if "secret" in v]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
    assert [m["mountPath"] for m in c["volumeMounts"]] == ["/tmp"]
    # and the app starts in production with only that secret (no master key asked)
    check_production(Settings(environment="production", jwt_secret="k" * 48))
    with pytest.raises(ValueError, match="SAFEPATH_JWT_SECRET"):
        check_production(Settings(environment="production", jwt_secret="short"))


def test_sessions_in_memory_one_replica_and_sticky_service(docs: list[Manifest]) -> None:
    assert web_of(docs, "Deployment")["spec"]["replicas"] == 1
    assert web_of(docs, "Service")["spec"]["sessionAffinity"] == "ClientIP"
    assert "web" not in of_kind(docs, "PodDisruptionBudget", web=True)


def test_the_web_policy_reaches_the_apis_and_no_database_or_bus(docs: list[Manifest]) -> None:
    policy = web_of(docs, "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["spec"]["ingress"]
    assert [p["port"] for p in ingress["ports"]] == [8000]
    dns, apis = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert [p["port"] for p in apis["ports"]] == [8000]
    components = {
        t["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for t in apis["to"]
    }
    assert components == {"case", "referral", "notify"}
    assert all(
        t["podSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "safepath"
        for t in apis["to"]
    )


def test_options_oidc_client_secret_jwks_and_switched_off() -> None:
    docs = render(
        {
            "web": {"oidc": {"clientSecret": {"name": "safepath-web-oidc", "key": "secret"}}},
            "auth": {"jwksUrl": "https://id.example.org/jwks"},
        }
    )
    env = env_of(container(web_of(docs, "Deployment")))
    ref = env["SAFEPATH_WEB_OIDC_CLIENT_SECRET"]["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("safepath-web-oidc", "secret")
    assert "SAFEPATH_JWT_SECRET" not in env and "value" in env["SAFEPATH_JWKS_URL"]
    off = render({"web": {"enabled": False}})
    assert not [d for d in off if d["metadata"]["name"] == "safepath-web"]
    # the services' policies then let nobody but the ingress controller in
    for policy in of_kind(off, "NetworkPolicy").values():
        assert len(policy["spec"]["ingress"]) <= 1


@pytest.mark.parametrize(
    "values",
    [
        {"web": {"replicas": 0}},
        {"web": {"publicUrl": "not a url"}},
        {"web": {"oidc": {"issuer": "http://id.example.org"}}},  # the issuer over TLS only
        {"web": {"oidc": {"clientSecret": "in-clear"}}},  # secrets by reference only
    ],
)
def test_the_values_schema_refuses_bad_web_values(values: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmValuesError):
        render(values)


def test_compose_starts_the_web_app_after_the_apis() -> None:
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    web = compose["services"]["web"]
    assert web["image"] == "safepath:dev"
    assert web["command"] == ["python", "-m", "services.web"]
    assert web["ports"] == ["127.0.0.1:8003:8000"]
    env = web["environment"]
    assert env["SAFEPATH_WEB_PORT"] == "8000"
    assert env["SAFEPATH_ENVIRONMENT"] == "development"
    assert env["SAFEPATH_DATA_DIR"] == "/var/lib/safepath"  # the development token secret
    assert web["volumes"] == ["safepath-data:/var/lib/safepath"]
    for svc in ("case", "referral", "notify"):
        assert env[f"SAFEPATH_WEB_{svc.upper()}_URL"] == f"http://{svc}:8000"
        assert web["depends_on"][svc] == {"condition": "service_healthy"}
    assert env["SAFEPATH_WEB_PUBLIC_URL"] == "http://127.0.0.1:8003"
    assert "SAFEPATH_DATABASE_URL" not in env
    assert "http://127.0.0.1:8000/healthz" in web["healthcheck"]["test"][3]


def test_sessions_in_postgres_get_the_database_the_sealing_key_and_only_that_egress() -> None:
    docs = render(
        {
            "web": {
                "replicas": 2,
                "sessions": {
                    "store": "postgres",
                    "keySecret": {"name": "safepath-web-sessions", "key": "session-key"},
                },
            }
        }
    )
    d = web_of(docs, "Deployment")
    assert d["spec"]["replicas"] == 2
    env = env_of(container(d))
    assert env["SAFEPATH_WEB_SESSION_STORE"]["value"] == "postgres"
    for name, ref in (
        ("SAFEPATH_DATABASE_URL", ("safepath-db-app", "uri")),
        ("SAFEPATH_WEB_SESSION_KEY", ("safepath-web-sessions", "session-key")),
    ):
        secret = env[name]["valueFrom"]["secretKeyRef"]
        assert (secret["name"], secret["key"]) == ref, name
    for name in ("SAFEPATH_MASTER_KEY", "SAFEPATH_NATS_CREDENTIALS", "SAFEPATH_EVENT_SIGNING_KEY"):
        assert name not in env
    _dns, _apis, postgres = web_of(docs, "NetworkPolicy")["spec"]["egress"]
    assert postgres["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "safepath-db"}}}]
    assert [p["port"] for p in postgres["ports"]] == [5432]
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    # the default keeps them in memory: no database for the web pod
    assert "SAFEPATH_DATABASE_URL" not in env_of(container(web_of(render(), "Deployment")))
    # Postgres sessions without a key Secret are refused
    with pytest.raises(helm.HelmValuesError):
        render({"web": {"sessions": {"store": "postgres"}}})
    with pytest.raises(helm.HelmValuesError):
        render({"web": {"sessions": {"store": "redis"}}})
