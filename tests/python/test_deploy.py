"""Offline validation of the deployment: deploy/k8s and deploy/docker.

No cluster and no Docker engine: each overlay is rendered with the real
kustomize (`kubectl kustomize`; Debian's kubernetes-client or any kubectl on
PATH, or $FM_KUBECTL), every rendered object is validated against the
Kubernetes / prometheus-operator schemas by npm's kubernetes-models, and the
rules the schemas cannot express (probes, grace period vs drain deadline,
security, selectors, sharding, monitoring, the dashboard) are checked here.
The Dockerfile is linted with npm's dockerfile-utils and checked for its
structure. The npm packages come from tests/deploy/package-lock.json, installed
by scripts/install_deps.sh (`npm ci --prefix tests/deploy`); nothing here uses
the network.
"""

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
DOCKERFILE = REPO / "deploy" / "docker" / "Dockerfile"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "focalmetrics.json"
DASHBOARD_COPY = K8S / "base" / "dashboard" / "focalmetrics.json"
NODE_DIR = REPO / "tests" / "deploy"
VALIDATE_JS = NODE_DIR / "validate.js"

NAME = "focalmetrics"
HEADLESS = "focalmetrics-headless"
STATE_DIR = "/var/lib/focalmetrics"
IMAGE_UID = 65532
EXPECTED_REPLICAS = {"dev": 1, "prod": 3}
INSTALL_HINT = "run `bash scripts/install_deps.sh` (the README's test command does)"


# ---------------------------------------------------------------- helpers


def _kubectl():
    kubectl = os.environ.get("FM_KUBECTL") or shutil.which("kubectl")
    if not kubectl:
        pytest.fail(f"kubectl not found (Debian package kubernetes-client); {INSTALL_HINT}")
    return kubectl


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.fail(f"node not found (Debian package nodejs); {INSTALL_HINT}")
    if not (NODE_DIR / "node_modules" / "kubernetes-models").is_dir():
        pytest.fail(f"tests/deploy/node_modules is missing; {INSTALL_HINT}")
    return node


def _run_node(args, stdin=None):
    proc = subprocess.run([_node(), str(VALIDATE_JS), *args], input=stdin,
                          capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
    assert proc.returncode == 0, f"validate.js {args[0]} failed:\n{proc.stderr}"
    return json.loads(proc.stdout)


_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def parse_duration(text):
    """Seconds in an absl/Go duration such as 20s, 500ms, 1m30s."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|ns|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {text!r}"
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def _is_subset(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


class Rendered:
    """One overlay's objects, with lookups."""

    def __init__(self, overlay, objects):
        self.overlay = overlay
        self.objects = objects

    def of_kind(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind, name=None):
        found = [o for o in self.of_kind(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.overlay}: expected one {kind} {name or ''}, got {len(found)}"
        return found[0]

    @property
    def sts(self):
        return self.one("StatefulSet", NAME)

    @property
    def pod_spec(self):
        return self.sts["spec"]["template"]["spec"]

    @property
    def pod_labels(self):
        return self.sts["spec"]["template"]["metadata"]["labels"]

    @property
    def container(self):
        containers = self.pod_spec["containers"]
        assert [c["name"] for c in containers] == [NAME]
        return containers[0]

    def flags(self):
        """The server's flags: the flagfile from the ConfigMap the pod mounts."""
        container = self.container
        flagfiles = [a.split("=", 1)[1] for a in container.get("args", [])
                     if a.startswith("--flagfile=")]
        assert len(flagfiles) == 1, f"{self.overlay}: expected one --flagfile arg"
        path = flagfiles[0]
        mount = next(m for m in container["volumeMounts"]
                     if path.startswith(m["mountPath"].rstrip("/") + "/"))
        key = path[len(mount["mountPath"].rstrip("/")) + 1:]
        volume = next(v for v in self.pod_spec["volumes"] if v["name"] == mount["name"])
        configmap = self.one("ConfigMap", volume["configMap"]["name"])
        flags = {}
        for line in configmap["data"][key].splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            assert line.startswith("--") and "=" in line, f"bad flag line {line!r}"
            name, value = line[2:].split("=", 1)
            assert name not in flags, f"flag --{name} given twice"
            flags[name] = value
        for arg in container.get("args", []):  # args after the flagfile win
            if arg.startswith("--") and not arg.startswith("--flagfile="):
                name, value = arg[2:].split("=", 1)
                flags[name] = value
        return flags

    def container_port(self, name):
        ports = {p["name"]: p["containerPort"] for p in self.container["ports"]}
        return ports[name]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request):
    overlay = request.param
    proc = subprocess.run([_kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize {overlay} failed:\n{proc.stderr}"
    objects = [o for o in yaml.safe_load_all(proc.stdout) if o]
    assert objects, f"{overlay} rendered nothing"
    return Rendered(overlay, objects)


# ---------------------------------------------------------------- schemas


def test_rendered_objects_match_schemas(rendered):
    results = _run_node(["k8s"], stdin=json.dumps(rendered.objects))
    assert len(results) == len(rendered.objects)
    errors = [f"{r['kind']}/{r['name']}: {e}" for r in results for e in r["errors"]]
    assert not errors, f"{rendered.overlay}: schema errors:\n" + "\n".join(errors)


def test_schema_validation_catches_broken_objects():
    """The validator is not a no-op: a named probe port and a typo'd kind fail."""
    statefulset = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"},
        "spec": {"serviceName": "x", "selector": {"matchLabels": {"a": "b"}},
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                     {"name": "x", "image": "x", "readinessProbe": {"grpc": {"port": "grpc"}}}]}}}}
    unknown = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitr",
               "metadata": {"name": "x"}}
    results = _run_node(["k8s"], stdin=json.dumps([statefulset, unknown]))
    assert any("readinessProbe/grpc/port" in e for e in results[0]["errors"]), results[0]
    assert results[1]["errors"], results[1]


def test_overlay_has_expected_objects(rendered):
    kinds = sorted({o["kind"] for o in rendered.objects})
    expected = {"ConfigMap", "NetworkPolicy", "Service", "ServiceMonitor", "StatefulSet"}
    if rendered.overlay == "prod":
        expected.add("PodDisruptionBudget")
    assert set(kinds) == expected
    namespaces = {o["metadata"].get("namespace") for o in rendered.objects}
    assert len(namespaces) == 1 and None not in namespaces, namespaces


# ---------------------------------------------------------------- workload


def test_probes_are_native_grpc_on_numeric_port(rendered):
    grpc_port = int(rendered.flags()["port"])
    assert rendered.container_port("grpc") == grpc_port
    container = rendered.container
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        spec = container.get(probe)
        assert spec, f"{probe} missing"
        assert set(spec) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, spec
        port = spec["grpc"]["port"]
        assert isinstance(port, int) and not isinstance(port, bool), f"{probe} port {port!r}"
        assert port == grpc_port


def test_grace_period_exceeds_drain_deadline(rendered):
    flags = rendered.flags()
    assert "drain_deadline" in flags, "pass --drain_deadline explicitly"
    drain = parse_duration(flags["drain_deadline"])
    pre_stop = 0.0
    command = rendered.container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    if command:
        assert Path(command[0]).name == "sleep", command
        pre_stop = parse_duration(command[1] if command[1][-1].isalpha() else command[1] + "s")
    grace = rendered.pod_spec["terminationGracePeriodSeconds"]
    # The preStop hook runs inside the grace period, then the drain, then the
    # final snapshot: leave it at least 5 s.
    assert grace >= pre_stop + drain + 5, (grace, pre_stop, drain)


def test_flags_match_ports_mounts_and_image_defaults(rendered):
    flags = rendered.flags()
    assert flags["host"] in ("0.0.0.0", "::"), "must listen beyond loopback in a pod"
    assert rendered.container_port("metrics") == int(flags["metrics_port"])
    assert flags["state_dir"] == STATE_DIR
    mounts = {m["mountPath"]: m for m in rendered.container["volumeMounts"]}
    assert mounts[STATE_DIR]["name"] == "state" and not mounts[STATE_DIR].get("readOnly")
    for name in ("snapshot_interval", "run_ttl"):
        parse_duration(flags[name])


def test_state_volume_claim_template(rendered):
    templates = rendered.sts["spec"]["volumeClaimTemplates"]
    assert [t["metadata"]["name"] for t in templates] == ["state"]
    spec = templates[0]["spec"]
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert re.fullmatch(r"\d+(Mi|Gi|Ti)", spec["resources"]["requests"]["storage"])
    assert all(v["name"] != "state" for v in rendered.pod_spec["volumes"])


def test_every_container_has_requests_and_limits(rendered):
    for container in rendered.pod_spec["containers"] + rendered.pod_spec.get("initContainers", []):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(kind, {})), (container["name"], kind)


def test_security_context(rendered):
    pod = rendered.pod_spec["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == IMAGE_UID and pod["fsGroup"] == IMAGE_UID
    for container in rendered.pod_spec["containers"]:
        sc = container["securityContext"]
        assert sc["runAsNonRoot"] is True
        assert sc.get("runAsUser", pod["runAsUser"]) == IMAGE_UID
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
        assert not sc.get("privileged")
    assert rendered.pod_spec.get("automountServiceAccountToken") is False


def test_image_is_pinned(rendered):
    image = rendered.container["image"]
    assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), image


def test_replicas_per_overlay(rendered):
    assert rendered.sts["spec"]["replicas"] == EXPECTED_REPLICAS[rendered.overlay]


def test_prod_has_pod_disruption_budget_and_anti_affinity(rendered):
    if rendered.overlay != "prod":
        assert not rendered.of_kind("PodDisruptionBudget")
        return
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert _is_subset(pdb["spec"]["selector"]["matchLabels"], rendered.pod_labels)
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 2
    anti = rendered.pod_spec["affinity"]["podAntiAffinity"]
    required = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert any(t["topologyKey"] == "kubernetes.io/hostname"
               and _is_subset(t["labelSelector"]["matchLabels"], rendered.pod_labels)
               for t in required), required


# ---------------------------------------------------------------- networking


def test_selectors_match_pod_labels(rendered):
    sts = rendered.sts
    assert _is_subset(sts["spec"]["selector"]["matchLabels"], rendered.pod_labels)
    services = rendered.of_kind("Service")
    assert {s["metadata"]["name"] for s in services} == {NAME, HEADLESS}
    for service in services:
        assert _is_subset(service["spec"]["selector"], rendered.pod_labels), service["metadata"]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                assert rendered.container_port(target), target
            else:
                assert target in [p["containerPort"] for p in rendered.container["ports"]]
    policy = rendered.one("NetworkPolicy")
    assert _is_subset(policy["spec"]["podSelector"]["matchLabels"], rendered.pod_labels)


def test_headless_service_gives_per_shard_addresses(rendered):
    headless = rendered.one("Service", HEADLESS)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"].get("publishNotReadyAddresses", False) is False
    assert [p["port"] for p in headless["spec"]["ports"]] == [int(rendered.flags()["port"])]
    # focalmetrics-<i>.focalmetrics-headless: name + ordinal + serviceName.
    assert rendered.sts["metadata"]["name"] == NAME
    assert rendered.sts["spec"]["serviceName"] == HEADLESS
    # The shard index is the pod name's ordinal suffix, visible in the pod.
    env = {e["name"]: e for e in rendered.container.get("env", [])}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    api = rendered.one("Service", NAME)
    assert api["spec"].get("type", "ClusterIP") == "ClusterIP" and api["spec"].get("clusterIP") != "None"


def test_service_monitor_is_selected_by_kube_prometheus_stack(rendered):
    monitor = rendered.one("ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selector = monitor["spec"]["selector"]["matchLabels"]
    selected = [s for s in rendered.of_kind("Service")
                if _is_subset(selector, s["metadata"].get("labels", {}))]
    # Exactly one Service, or every pod would be scraped twice.
    assert len(selected) == 1, [s["metadata"]["name"] for s in selected]
    port_names = {p.get("name") for p in selected[0]["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names, (endpoint["port"], port_names)
        assert endpoint.get("path", "/metrics") == "/metrics"
    metrics_port = next(p for p in selected[0]["spec"]["ports"] if p["name"] == "metrics")
    assert metrics_port["targetPort"] in ("metrics", rendered.container_port("metrics"))


def test_network_policy_admits_only_trainers_and_prometheus(rendered):
    policy = rendered.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    grpc_port = rendered.container_port("grpc")
    metrics_port = rendered.container_port("metrics")
    rules = {}
    for rule in policy["ingress"]:
        ports = [p["port"] for p in rule["ports"]]
        assert len(ports) == 1, "one port per rule keeps the audiences apart"
        assert rule.get("from"), "a rule without `from` admits everyone"
        rules[ports[0]] = rule["from"]
    assert set(rules) == {grpc_port, metrics_port}
    for peer in rules[grpc_port]:
        assert peer["podSelector"]["matchLabels"] == {"focalmetrics-client": "true"}, peer
        assert peer.get("namespaceSelector", {"matchLabels": {"x": "y"}}).get("matchLabels"), \
            "an empty namespaceSelector would admit every namespace"
    for peer in rules[metrics_port]:
        assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        assert peer["namespaceSelector"]["matchLabels"], peer


# ---------------------------------------------------------------- dashboard


def test_dashboard_copy_equals_source():
    assert DASHBOARD_COPY.read_bytes() == DASHBOARD.read_bytes(), (
        "deploy/k8s/base/dashboard/focalmetrics.json is stale: "
        "cp deploy/grafana/dashboards/focalmetrics.json deploy/k8s/base/dashboard/")


def test_dashboard_configmap_for_grafana_sidecar(rendered):
    dashboards = [c for c in rendered.of_kind("ConfigMap")
                  if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert [c["metadata"]["name"] for c in dashboards] == ["focalmetrics-dashboard"]
    data = dashboards[0]["data"]
    assert list(data) == ["focalmetrics.json"]
    assert data["focalmetrics.json"] == DASHBOARD.read_text()
    json.loads(data["focalmetrics.json"])
    # Only the dashboard carries the sidecar's label.
    flags_cm = [c for c in rendered.of_kind("ConfigMap") if c not in dashboards]
    assert all("grafana_dashboard" not in c["metadata"].get("labels", {}) for c in flags_cm)


# ---------------------------------------------------------------- Dockerfile


def _dockerfile_instructions():
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages():
    stages, current = [], None
    for word, rest in _dockerfile_instructions():
        if word == "FROM":
            current = {"from": rest, "instructions": []}
            stages.append(current)
        elif current is not None:
            current["instructions"].append((word, rest))
    return stages


def _apt_packages(stage):
    packages = []
    for word, rest in stage["instructions"]:
        if word == "RUN" and "apt-get install" in rest:
            for command in rest.split("&&"):
                if "apt-get install" in command:
                    packages += [w for w in shlex.split(command.split("apt-get install", 1)[1])
                                 if not w.startswith("-")]
    return packages


def test_dockerfile_lints_clean():
    diagnostics = _run_node(["dockerfile", str(DOCKERFILE)])
    problems = [d for d in diagnostics if d["severity"] in ("error", "warning")]
    assert not problems, problems


def test_dockerfile_structure():
    instructions = _dockerfile_instructions()
    words = [w for w, _ in instructions]
    assert "HEALTHCHECK" not in words, "Kubernetes' gRPC probes check health"
    stages = _stages()
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    assert all("debian:12" in s["from"] or "${DEBIAN_IMAGE}" in s["from"] for s in stages)
    assert "ARG DEBIAN_IMAGE=debian:12" in DOCKERFILE.read_text()
    runtime = dict((w, r) for w, r in stages[-1]["instructions"])
    user = runtime["USER"].split(":")[0]
    assert user.isdigit() and int(user) == IMAGE_UID, "a fixed non-root numeric uid"
    entrypoint = json.loads(runtime["ENTRYPOINT"])
    assert Path(entrypoint[0]).name == "focalmetrics-server"
    assert any(w == "COPY" and "--from=build" in r and entrypoint[0] in r
               for w, r in stages[-1]["instructions"])
    cmd = json.loads(runtime["CMD"])
    assert "--host=0.0.0.0" in cmd and f"--state_dir={STATE_DIR}" in cmd
    assert set(runtime["EXPOSE"].split()) == {"50051", "9464"}
    build_only = {"g++", "cmake", "ninja-build", "libgrpc++-dev", "protobuf-compiler"}
    assert not build_only & set(_apt_packages(stages[-1])), "runtime stage has build tools"


def test_dockerfile_build_packages_come_from_install_deps():
    listed = set(re.findall(r"[a-z0-9][a-z0-9+.-]+",
                            re.search(r"PACKAGES=\((.*?)\n\)", (REPO / "scripts" / "install_deps.sh")
                                      .read_text(), re.S).group(1)))
    build = set(_apt_packages(_stages()[0]))
    assert build and build <= listed, build - listed


IMAGE_BINARIES = ("server/focalmetrics-server", "client/cpp/focalmetrics-loadgen",
                  "client/cpp/focalmetrics-shard")


def test_dockerfile_ships_the_server_and_the_tools():
    copies = " ".join(r for w, r in _stages()[-1]["instructions"] if w == "COPY")
    for binary in IMAGE_BINARIES:
        assert f"/build/{binary}" in copies, binary


@pytest.mark.parametrize("binary", IMAGE_BINARIES)
def test_dockerfile_runtime_packages_cover_the_libraries(binary: str):
    """Every library a binary of the image needs is in a runtime-stage package.

    The direct NEEDED entries of the locally built binary (same Debian 12
    packages as the image) are mapped to their Debian packages with dpkg.
    """
    path = Path(os.environ.get("FM_BUILD_DIR", REPO / "build")) / binary
    if not path.is_absolute():
        path = REPO / path
    readelf = shutil.which("readelf")
    if not path.exists() or not readelf:
        pytest.fail(f"needs build/{binary} (bash scripts/build.sh) and readelf "
                    "(binutils, installed with g++)")
    dynamic = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True,
                             check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic)
    assert needed
    runtime = set(_apt_packages(_stages()[-1]))
    in_base_image = {"libc6", "libgcc-s1"}  # essential in debian:12
    missing = {}
    for library in needed:
        owners = subprocess.run(["dpkg-query", "-S", f"*/{library}"], capture_output=True,
                                text=True).stdout
        packages = {line.split(":", 1)[0] for line in owners.splitlines() if ":" in line}
        assert packages, f"no package owns {library}"
        if not packages & (runtime | in_base_image):
            missing[library] = sorted(packages)
    assert not missing, f"runtime stage lacks {missing}"


def test_dockerignore_keeps_build_outputs_out_of_the_context():
    patterns = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    for must in (".git", "build*", "tests/deploy/node_modules"):
        assert must in patterns, must
