"""What operators rely on in the deployment files, checked on the tools' own output (compose's
resolved config, kustomize's rendered objects).
Usage: check_deploy.py dev.yml prod.yml cluster.yml k8s.yml (cluster: prod + docker-compose.cluster.yml)"""
import ipaddress
import sys
from urllib.parse import urlsplit

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


def truthy(value):
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def is_recorder(service):
    """A service built from the recorder's image."""
    build = service.get("build") or {}
    return isinstance(build, dict) and str(build.get("dockerfile", "")).endswith("recorder.Dockerfile")


def aliases(service):
    """The other names a compose service answers to on its networks (aliases)."""
    networks = service.get("networks") or {}
    if isinstance(networks, list):
        return set()
    return {a for n in networks.values() for a in ((n or {}).get("aliases") or [])}


dev = yaml.safe_load(open(sys.argv[1]))["services"]
prod_doc = yaml.safe_load(open(sys.argv[2]))
prod = prod_doc["services"]
cluster_doc = yaml.safe_load(open(sys.argv[3]))
cluster = cluster_doc["services"]
k8s = [d for d in yaml.safe_load_all(open(sys.argv[4])) if d]
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
# The production file alone stays the single-recorder stack.
for name in ("gateway", "recorder"):
    if truthy((prod[name].get("environment") or {}).get("MEMHARBOR_CLUSTER", "")):
        problems.append(f"prod: the {name} runs single mode (cluster mode is docker-compose.cluster.yml)")

# Cluster (docker-compose.cluster.yml over the production file): two recorders or more, each with
# its own stable id, address and volume, none published; cluster mode on the gateway and on every
# recorder, with Firebase settings (the directory is in Firestore) and one lease for all.
recorders = {name: service for name, service in cluster.items() if is_recorder(service)}
if len(recorders) < 2:
    problems.append("cluster: at least two recorders")
ids, volumes = {}, {}
for name, service in recorders.items():
    env = service.get("environment") or {}
    rid = str(env.get("RECORDER_ID") or "")
    if not rid:
        problems.append(f"cluster: {name} needs a RECORDER_ID (stable across restarts)")
    elif rid in ids:
        problems.append(f"cluster: {name} and {ids[rid]} share RECORDER_ID {rid}")
    ids.setdefault(rid, name)
    if not truthy(env.get("MEMHARBOR_CLUSTER", "")):
        problems.append(f"cluster: {name} needs MEMHARBOR_CLUSTER=true")
    url = urlsplit(str(env.get("RECORDER_ADVERTISE_URL") or ""))
    if url.scheme != "http" or url.hostname not in {name} | aliases(service) or url.port != 3100:
        problems.append(f"cluster: {name}'s RECORDER_ADVERTISE_URL must be http://<one of its names>:3100")
    if published(service):
        problems.append(f"cluster: {name} must not be published")
    own = [src for src, dst in mounts(service) if dst == "/app/recordings"]
    if len(own) != 1 or own[0] not in (cluster_doc.get("volumes") or {}):
        problems.append(f"cluster: {name}'s recordings must live in a declared named volume")
    elif own[0] in volumes:
        problems.append(f"cluster: {name} and {volumes[own[0]]} share the volume {own[0]}")
    else:
        volumes[own[0]] = name
    if seconds(service.get("stop_grace_period", "10s")) < 90:
        problems.append(f"cluster: {name}'s stop_grace_period must exceed its shutdown (>= 90 s)")
    if not service.get("shm_size"):
        problems.append(f"cluster: {name} needs shm_size (Chromium)")
    if "FIREBASE_PROJECT_ID" not in env:
        problems.append(f"cluster: {name} needs FIREBASE_PROJECT_ID (from docker/recorder.env)")
cluster_gw_env = cluster["gateway"].get("environment") or {}
if not truthy(cluster_gw_env.get("MEMHARBOR_CLUSTER", "")):
    problems.append("cluster: the gateway needs MEMHARBOR_CLUSTER=true")
if "FIREBASE_PROJECT_ID" not in cluster_gw_env:
    problems.append("cluster: the gateway needs FIREBASE_PROJECT_ID (from docker/gateway.env)")
leases = {str((s.get("environment") or {}).get("MEMHARBOR_CLUSTER_LEASE_S") or "10")
          for s in [cluster["gateway"], *recorders.values()]}
if len(leases) > 1:
    problems.append(f"cluster: MEMHARBOR_CLUSTER_LEASE_S differs between services ({sorted(leases)})")
if published(cluster["gateway"]) or "80" not in published(cluster["nginx"]):
    problems.append("cluster: nginx (80) stays the only door")
for name, service in cluster.items():
    if service.get("restart") not in ("always", "unless-stopped"):
        problems.append(f"cluster: {name} needs a restart policy")

# Each service its own settings: a recorder (and the Chromium it runs) never gets the Agora App
# Certificate or the API keys; the gateway never gets the Storage bucket, nor, outside cluster mode
# (where it reads the directory in Firestore), the Firebase service account.
for label, services in (("dev", dev), ("prod", prod), ("cluster", cluster)):
    gw_env = services["gateway"].get("environment") or {}
    envs = {"gateway": gw_env}
    for rec_name, rec in services.items():
        if not is_recorder(rec):
            continue
        rec_env = rec.get("environment") or {}
        envs[rec_name] = rec_env
        for name in ("AGORA_APP_CERT", "MEMHARBOR_API_KEYS"):
            if name in rec_env:
                problems.append(f"{label}: {rec_name} must not get {name}")
    if "FIREBASE_SERVICE_ACCOUNT" in gw_env and label != "cluster":
        problems.append(f"{label}: the gateway must not get FIREBASE_SERVICE_ACCOUNT")
    if "FIREBASE_STORAGE_BUCKET" in gw_env:
        problems.append(f"{label}: the gateway must not get FIREBASE_STORAGE_BUCKET")
    for name, env in envs.items():
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

# Cluster mode on Kubernetes: 3 recorders, each reached at its own pod's name in the headless
# Service (kept while the pod drains and is not ready), its id its pod name; both services in
# cluster mode with Firebase settings and one lease; one voluntary eviction at a time.
configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in by_kind.get("ConfigMap", [])}
services = {d["metadata"]["name"]: d for d in by_kind.get("Service", [])}


def pod_env(workload):
    """The container's environment as the pod sees it: its ConfigMaps and Secrets, then env."""
    c = workload["spec"]["template"]["spec"]["containers"][0]
    env = {}
    for source in c.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps.get(source["configMapRef"]["name"], {}))
        if "secretRef" in source:
            secret = secrets.get(source["secretRef"]["name"]) or {}
            env.update(secret.get("data") or {})
            env.update(secret.get("stringData") or {})
    for e in c.get("env", []):
        env[e["name"]] = e["value"] if "value" in e else e.get("valueFrom")
    return env


def labels_of(workload):
    return workload["spec"]["template"]["metadata"].get("labels") or {}


def selects(selector, labels):
    return not selector.get("matchExpressions") and all(
        labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


# What the NetworkPolicies let through, as Kubernetes reads them (a pod no policy selects for
# a direction is not isolated in it): same-namespace pods by labels, addresses by ipBlock.
def port_matches(ports, port, protocol):
    return not ports or any(
        p.get("protocol", "TCP") == protocol
        and ("port" not in p or isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"]))
        for p in ports)


def peer_matches(peer, labels, ip):
    if labels is not None:
        # Same namespace (or any: an empty namespaceSelector), selected by labels.
        return ("podSelector" in peer and peer.get("namespaceSelector", {}) == {}
                and selects(peer["podSelector"], labels))
    block = peer.get("ipBlock")
    return bool(block) and ipaddress.ip_address(ip) in ipaddress.ip_network(block["cidr"]) and not any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(e) for e in block.get("except", []))


def allowed(direction, pod, port, peer=None, ip=None, protocol="TCP"):
    """Whether pods labelled `pod` may receive from (Ingress) or send to (Egress) pods labelled
    `peer`, or the address `ip`, on `port`."""
    applying = [p["spec"] for p in policies if selects(p["spec"]["podSelector"], pod)
                and direction in p["spec"].get("policyTypes", ["Ingress"])]
    key, peers = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    return not applying or any(
        port_matches(rule.get("ports"), port, protocol)
        and (not rule.get(peers) or any(peer_matches(x, peer, ip) for x in rule[peers]))
        for spec in applying for rule in spec.get(key) or [])


def connects(src, dst, port):
    """Both ends agree: src's egress and dst's ingress."""
    return allowed("Egress", src, port, peer=dst) and allowed("Ingress", dst, port, peer=src)


if recorder is not None and gateway is not None:
    rec_labels, gw_labels = labels_of(recorder), labels_of(gateway)
    if recorder["spec"].get("replicas") != 3:
        problems.append("k8s: the recorder StatefulSet runs 3 replicas")
    service_name = recorder["spec"].get("serviceName", "")
    headless = services.get(service_name)
    if headless is None or headless["spec"].get("clusterIP") != "None":
        problems.append(f"k8s: the StatefulSet's serviceName {service_name!r} must be a headless Service")
    else:
        if not headless["spec"].get("selector") or not selects({"matchLabels": headless["spec"]["selector"]}, rec_labels):
            problems.append("k8s: the headless Service must select the recorder pods")
        if not headless["spec"].get("publishNotReadyAddresses"):
            problems.append("k8s: the headless Service must publish not-ready pods (a draining recorder is still called)")
        if 3100 not in [p.get("port") for p in headless["spec"].get("ports", [])]:
            problems.append("k8s: the headless Service must carry port 3100")
    rec_container = recorder["spec"]["template"]["spec"]["containers"][0]
    order = [e["name"] for e in rec_container.get("env", [])]
    fields = {e["name"]: ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
              for e in rec_container.get("env", [])}
    rec_env, gw_env = pod_env(recorder), pod_env(gateway)
    if fields.get("POD_NAME") != "metadata.name" or fields.get("POD_NAMESPACE") != "metadata.namespace":
        problems.append("k8s: the recorder needs POD_NAME and POD_NAMESPACE from the downward API")
    elif not all(n in order and order.index(v) < order.index(n) for n, v in (("RECORDER_ID", "POD_NAME"),
                 ("RECORDER_ADVERTISE_URL", "POD_NAME"), ("RECORDER_ADVERTISE_URL", "POD_NAMESPACE"))):
        problems.append("k8s: RECORDER_ID and RECORDER_ADVERTISE_URL must follow POD_NAME and POD_NAMESPACE in env")
    if rec_env.get("RECORDER_ID") != "$(POD_NAME)":
        problems.append("k8s: RECORDER_ID must be $(POD_NAME) (stable, like the pod's volume)")
    pod_host = f"$(POD_NAME).{service_name}.$(POD_NAMESPACE).svc"
    url = str(rec_env.get("RECORDER_ADVERTISE_URL", ""))
    if not (url.startswith(f"http://{pod_host}.") and url.endswith(":3100")):
        problems.append(f"k8s: RECORDER_ADVERTISE_URL must be http://{pod_host}.<cluster domain>:3100")
    for name, env in (("gateway", gw_env), ("recorder", rec_env)):
        if not truthy(env.get("MEMHARBOR_CLUSTER", "")):
            problems.append(f"k8s: the {name} needs MEMHARBOR_CLUSTER=true")
        for key in ("FIREBASE_PROJECT_ID", "FIREBASE_SERVICE_ACCOUNT"):
            if key not in env:
                problems.append(f"k8s: the {name} needs {key} (cluster mode: the directory is in Firestore)")
    for ref in secret_refs(gateway):
        if "FIREBASE_STORAGE_BUCKET" in ((secrets.get(ref) or {}).get("stringData") or {}):
            problems.append(f"k8s: the gateway's Secret {ref} must not hold FIREBASE_STORAGE_BUCKET")
    if str(gw_env.get("MEMHARBOR_CLUSTER_LEASE_S", "10")) != str(rec_env.get("MEMHARBOR_CLUSTER_LEASE_S", "10")):
        problems.append("k8s: MEMHARBOR_CLUSTER_LEASE_S must be the same on the gateway and the recorder")
    for name, labels in (("recorder", rec_labels), ("gateway", gw_labels)):
        if not any(selects(d["spec"].get("selector") or {}, labels) and d["spec"].get("maxUnavailable") == 1
                   for d in by_kind.get("PodDisruptionBudget", [])):
            problems.append(f"k8s: a PodDisruptionBudget (maxUnavailable 1) must select the {name} pods")

    if not connects(gw_labels, rec_labels, 3100):
        problems.append("k8s: the NetworkPolicies must let the gateway reach every recorder pod on 3100")
    if not connects(rec_labels, rec_labels, 3100):
        problems.append("k8s: the NetworkPolicies must let recorders reach each other on 3100")
    if allowed("Ingress", rec_labels, 3100, peer={"app.kubernetes.io/name": "something-else"}):
        problems.append("k8s: only the gateway and the recorders may reach a recorder")
    if not any(selects(p["spec"]["podSelector"], gw_labels) and "Egress" in p["spec"].get("policyTypes", [])
               for p in policies):
        problems.append("k8s: an egress NetworkPolicy must bound what the gateway reaches")
    # 142.250.0.0/15 is Google's (firestore.googleapis.com, oauth2.googleapis.com, storage).
    for name, labels in (("gateway", gw_labels), ("recorder", rec_labels)):
        if not allowed("Egress", labels, 443, ip="142.250.74.10"):
            problems.append(f"k8s: the {name} must reach Google's APIs (public addresses, TCP 443)")
        for ip, port in (("10.1.2.3", 443), ("192.168.1.1", 443), ("169.254.169.254", 80)):
            if allowed("Egress", labels, port, ip=ip):
                problems.append(f"k8s: the {name} must not reach the private address {ip}:{port}")

if problems:
    print("deployment checks failed:\n  " + "\n  ".join(problems))
    sys.exit(1)
