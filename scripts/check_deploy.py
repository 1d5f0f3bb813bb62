"""What operators rely on in the deployment files, checked on the tools' own output (compose's
resolved config, kustomize's rendered objects). Usage: check_deploy.py dev.yml prod.yml k8s.yml"""
import sys

import yaml


def seconds(value):
    value = str(value)
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    for unit in ("ms", "s", "m", "h"):
        if value.endswith(unit) and value[: -len(unit)].replace(".", "").isdigit():
            return float(value[: -len(unit)]) * units[unit]
    raise SystemExit(f"not a duration: {value!r}")


def mounts(service):
    """(source, target) of each volume, long or short form."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v.get("target", ""))))
        else:
            parts = str(v).split(":")
            out.append((parts[0], parts[1] if len(parts) > 1 else parts[0]))
    return out


def published(service):
    return {str(p.get("published", p)) if isinstance(p, dict) else str(p).split(":")[0] for p in service.get("ports", [])}


dev = yaml.safe_load(open(sys.argv[1]))["services"]
prod_doc = yaml.safe_load(open(sys.argv[2]))
prod = prod_doc["services"]
k8s = [d for d in yaml.safe_load_all(open(sys.argv[3])) if d]
problems = []

# Development: the original's ports, emulators as containers.
for service, port in [("gateway", "8001"), ("recorder", "3100"), ("firestore", "8080"), ("storage", "9199"), ("nginx", "80")]:
    if port not in published(dev.get(service, {})):
        problems.append(f"dev: {service} should publish {port}")

# Production: nginx is the only door; the recorder finishes its recordings before being killed.
if published(prod["recorder"]):
    problems.append("prod: the recorder must not be published")
if published(prod["gateway"]):
    problems.append("prod: the gateway is reached through nginx only")
if "80" not in published(prod["nginx"]):
    problems.append("prod: nginx should publish 80")
if seconds(prod["recorder"].get("stop_grace_period", "10s")) < 90:
    problems.append("prod: the recorder's stop_grace_period must exceed its shutdown (>= 90 s)")
for name, service in prod.items():
    if service.get("restart") not in ("always", "unless-stopped"):
        problems.append(f"prod: {name} needs a restart policy")
if ("recordings_data", "/app/recordings") not in mounts(prod["recorder"]):
    problems.append("prod: recordings must live in the recordings_data volume")
if "recordings_data" not in (prod_doc.get("volumes") or {}):
    problems.append("prod: volume recordings_data is not declared")
if not any(src.endswith("/logs") and dst == "/app/logs" for src, dst in mounts(prod["gateway"])):
    problems.append("prod: the gateway's logs must be mounted (./logs)")

# Each service its own settings: the recorder (and the Chromium it runs) never gets the Agora App
# Certificate or the API keys; the gateway never gets the Firebase service account.
for label, services in (("dev", dev), ("prod", prod)):
    rec_env = services["recorder"].get("environment") or {}
    gw_env = services["gateway"].get("environment") or {}
    for name in ("AGORA_APP_CERT", "MEMHARBOR_API_KEYS"):
        if name in rec_env:
            problems.append(f"{label}: the recorder must not get {name}")
    if "FIREBASE_SERVICE_ACCOUNT" in gw_env:
        problems.append(f"{label}: the gateway must not get FIREBASE_SERVICE_ACCOUNT")
    for name, env in (("gateway", gw_env), ("recorder", rec_env)):
        if "MEMHARBOR_SECRET_KEY" not in env:
            problems.append(f"{label}: the {name} needs MEMHARBOR_SECRET_KEY")
tunnel_env = prod.get("cloudflared", {}).get("environment") or {}
if set(tunnel_env) - {"TUNNEL_TOKEN"}:
    problems.append("prod: the tunnel gets only TUNNEL_TOKEN")

# Kubernetes.
by_kind = {}
for doc in k8s:
    by_kind.setdefault(doc["kind"], []).append(doc)
recorder = next((d for d in by_kind.get("StatefulSet", []) if d["metadata"]["name"] == "memharbor-recorder"), None)
if recorder is None:
    problems.append("k8s: the recorder must be a StatefulSet")
else:
    spec = recorder["spec"]["template"]["spec"]
    if spec.get("terminationGracePeriodSeconds", 30) < 90:
        problems.append("k8s: the recorder's terminationGracePeriodSeconds must exceed its shutdown")
    probe = spec["containers"][0].get("readinessProbe", {}).get("httpGet", {}).get("path")
    if probe != "/readyz":
        problems.append("k8s: the recorder's readiness probe must be /readyz")
    if not recorder["spec"].get("volumeClaimTemplates"):
        problems.append("k8s: the recorder needs its own volume (volumeClaimTemplates)")
policies = by_kind.get("NetworkPolicy", [])
if not any(p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "memharbor-recorder" for p in policies):
    problems.append("k8s: a NetworkPolicy must guard the recorder")
for kind in ("Deployment", "Service", "ConfigMap", "Secret", "Ingress"):
    if kind not in by_kind:
        problems.append(f"k8s: no {kind}")

# Every pod: no privilege escalation, no capabilities, the runtime's default seccomp profile.
for doc in by_kind.get("Deployment", []) + by_kind.get("StatefulSet", []):
    name = doc["metadata"]["name"]
    pod = doc["spec"]["template"]["spec"]
    if (pod.get("securityContext") or {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"k8s: {name} needs seccompProfile RuntimeDefault")
    for c in pod["containers"]:
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"k8s: {name}/{c['name']} must not allow privilege escalation")
        if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
            problems.append(f"k8s: {name}/{c['name']} must drop ALL capabilities")

# One Secret per service; the recorder's holds no Agora certificate and no API keys.
secrets = {d["metadata"]["name"]: d for d in by_kind.get("Secret", [])}
def secret_refs(workload):
    c = workload["spec"]["template"]["spec"]["containers"][0]
    return [e["secretRef"]["name"] for e in c.get("envFrom", []) if "secretRef" in e]
gateway = next((d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == "memharbor-gateway"), None)
if recorder is not None and gateway is not None:
    rec_refs, gw_refs = secret_refs(recorder), secret_refs(gateway)
    if set(rec_refs) & set(gw_refs):
        problems.append("k8s: the gateway and the recorder must not share a Secret")
    for ref in rec_refs:
        keys = set((secrets.get(ref) or {}).get("stringData", {})) | set((secrets.get(ref) or {}).get("data", {}))
        for name in ("AGORA_APP_CERT", "MEMHARBOR_API_KEYS"):
            if name in keys:
                problems.append(f"k8s: the recorder's Secret {ref} must not hold {name}")

# The recorder's egress is bounded.
if not any(p["spec"]["podSelector"]["matchLabels"].get("app.kubernetes.io/name") == "memharbor-recorder"
           and "Egress" in p["spec"].get("policyTypes", []) for p in policies):
    problems.append("k8s: an egress NetworkPolicy must bound what the recorder reaches")

if problems:
    print("deployment checks failed:\n  " + "\n  ".join(problems))
    sys.exit(1)
