#!/usr/bin/env python3
"""Checks what can be checked of deploy/compose.yaml without Docker: that it says what
deploy/local-cluster.sh (the tested equivalent) says, and names only settings that exist.

  python3 deploy/compose/check-in-step.py      (needs python3-yaml; exit 0 when all agree)

It reads the settings each role gets from tests/Chat.Testing/Cluster/NodeSettings.cs (what the
local cluster and the tests start nodes with) and the option classes' properties from src/, and
compares: each node's environment, its addresses (listen on 0.0.0.0, advertise its own name; a
silo advertises its fixed IP), and that only nginx publishes a port. It checks that compose uses
the files local-cluster.sh uses rather than copies: deploy/mariadb/chat-database.sql (the
database user's privileges) and chat.cnf (mariadbd's settings), and deploy/nginx/chat.conf.template
with a value for each of its variables. It does not run anything: that compose.yaml works is
still untested.
"""

import ipaddress
import os
import pathlib
import re
import sys

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
OPTION_FILES = [
    "src/Chat.Host/Cluster/ClusterOptions.cs",
    "src/Chat.Host/Cluster/NodeCertificates.cs",
    "src/Chat.Host/Hosting/SiloExtensions.cs",
    "src/Chat.Host/Hosting/SiloTls.cs",
    "src/Chat.Logic/Storage/StoreOptions.cs",
    "src/Chat.Logic/Abuse/LimitOptions.cs",
]
# The settings each node gets under the same names, with a file of its own behind them (compose's secret targets).
NODE_FILES = {"tls-cert", "tls-key", "tls-ca", "etcd-password"}
NODE_SETTINGS = REPO / "tests/Chat.Testing/Cluster/NodeSettings.cs"
# Set per node here, from the node's own name or address (local-cluster.sh needs neither on 127.0.0.1).
PER_NODE = {"Chat__Cluster__AdvertisedGrpcAddress", "Chat__Silo__AdvertisedAddress"}


def interpolate(text):
    """Compose's ${NAME:-default} and ${NAME}, from this environment."""

    def value(match):
        name, default = match.group(1), match.group(3)
        if name in os.environ and (os.environ[name] or default is None):
            return os.environ[name]
        if default is None:
            sys.exit(f"check-in-step: ${{{name}}} is not set")
        return default

    return re.sub(r"\$\{(\w+)(:-([^}]*))?\}", value, text)


def method_body(source, name):
    """The text of NodeSettings.NAME, up to the next member."""
    match = re.search(r"public static [^\n]* %s\((.*?)(?=\n    ///|\n}\s*$)" % name, source, re.S)
    if not match:
        sys.exit(f"check-in-step: no method {name} in {NODE_SETTINGS.relative_to(REPO)}")
    return match.group(1)


def settings(body):
    """"urls=..." and "Chat:A:B=..." as environment variable names (Urls, Chat__A__B), and the
    runtime's own DOTNET_* variables the method sets."""
    return {
        "Urls" if name == "urls" else name.replace(":", "__")
        for name in re.findall(r'"(urls|Chat:[A-Za-z:]+)=', body)
    } | set(re.findall(r'"(DOTNET_\w+)"', body))


def options():
    """Chat__Section__Property for every settable property of the option classes, the TLS ones
    (whose Section is another's plus ":Tls", and whose properties are TlsFileOptions') included."""
    found = set()
    sections = {}
    tls_sections = []
    tls_properties = []
    for path in OPTION_FILES:
        text = (REPO / path).read_text()
        for cls, section, body in re.findall(
            r'class (\w+)[^{]*\{\s*public const string Section = "([^"]+)";(.*?)(?=\n(?:public|internal) |\Z)', text, re.S
        ):
            sections[cls] = section
            for prop in re.findall(r"public [\w?<>]+ (\w+) \{ get; set; \}", body):
                found.add(section.replace(":", "__") + "__" + prop)
        tls_sections += re.findall(r'class \w+ : TlsFileOptions\s*\{\s*public const string Section = (\w+)\.Section \+ "([^"]+)";', text)
        base = re.search(r"class TlsFileOptions\s*\{(.*?)\n\}", text, re.S)
        if base:
            tls_properties += re.findall(r"public [\w?<>]+ (\w+) \{ get; set; \}", base.group(1))
    for owner, suffix in tls_sections:
        for prop in tls_properties:
            found.add((sections[owner] + suffix).replace(":", "__") + "__" + prop)
    return found


def main():
    compose = yaml.safe_load(interpolate((REPO / "deploy/compose.yaml").read_text()))
    source = NODE_SETTINGS.read_text()
    init = (REPO / "deploy/compose/mariadb-init/chat-database.sh").read_text()
    template = (REPO / "deploy/nginx/chat.conf.template").read_text()
    services = compose["services"]
    known = options()
    problems = []

    # Compose runs on TLS, as local-cluster.sh does (NodeSettings.Plain is for clusters without it).
    common = settings(method_body(source, "Ports")) | settings(method_body(source, "Common")) | settings(method_body(source, "Tls")) | settings(method_body(source, "Environment"))
    wanted = {
        "logic": common | settings(method_body(source, "Logic")) | settings(method_body(source, "SiloPort")) | settings(method_body(source, "SiloTls")),
        "broker": common | settings(method_body(source, "Broker")),
    }
    network = compose["networks"]["chat"]["ipam"]["config"][0]
    subnet = ipaddress.ip_network(network["subnet"])
    dynamic = ipaddress.ip_network(network["ip_range"])

    def address(name):
        return ipaddress.ip_address(services[name]["networks"]["chat"]["ipv4_address"])

    for name, service in services.items():
        if "ports" in service and name != "nginx":
            problems.append(f"{name} publishes a port; only nginx may")
    for name in ["nginx", "logic1", "logic2", "broker1", "broker2"]:
        if address(name) not in subnet or address(name) in dynamic:
            problems.append(f"{name}: {address(name)} is outside {subnet} or inside the range Docker hands out ({dynamic})")

    for name in ["logic1", "logic2", "broker1", "broker2"]:
        role = name.rstrip("0123456789")
        env = services[name]["environment"]
        secrets = [s["source"] if isinstance(s, dict) else s for s in services[name].get("secrets", [])]
        targets = {s.get("target", s["source"]) if isinstance(s, dict) else s for s in services[name].get("secrets", [])}
        missing = wanted[role] - set(env)
        extra = set(env) - wanted[role] - PER_NODE
        if missing:
            problems.append(f"{name}: local-cluster.sh sets {sorted(missing)}, compose.yaml does not")
        if extra:
            problems.append(f"{name}: compose.yaml sets {sorted(extra)}, local-cluster.sh does not")
        problems += [f"{name}: {key} is no option in src/" for key in sorted(set(env) - {"Urls"} - known) if not key.startswith("DOTNET_")]
        if services[name].get("command") != [role]:
            problems.append(f"{name}: command is not [{role}]")
        for key, scheme in [("Urls", "http"), ("Chat__Cluster__GrpcUrl", "https")]:
            if not str(env.get(key, "")).startswith(f"{scheme}://0.0.0.0:"):
                problems.append(f"{name}: {key} does not listen on {scheme}://0.0.0.0")
        port = str(env.get("Chat__Cluster__GrpcUrl", "")).rsplit(":", 1)[-1]
        if env.get("Chat__Cluster__AdvertisedGrpcAddress") != f"{name}:{port}":
            problems.append(f"{name}: advertises gRPC as {env.get('Chat__Cluster__AdvertisedGrpcAddress')}, not {name}:{port}")
        if NODE_FILES - targets:
            problems.append(f"{name}: has no secret at {sorted(NODE_FILES - targets)} (its certificate, key, the CA, its etcd password)")
        if f"{name}-cert" not in secrets or f"{name}-key" not in secrets:
            problems.append(f"{name}: does not get its own certificate and key ({name}-cert, {name}-key)")
        if role == "logic":
            if env.get("Chat__Silo__AdvertisedAddress") != str(address(name)):
                problems.append(f"{name}: Chat__Silo__AdvertisedAddress is not its ipv4_address {address(name)}")
            if "store-connection" not in secrets:
                problems.append(f"{name}: has no store-connection secret")
            if "altcha-key" not in secrets:
                problems.append(f"{name}: has no altcha-key secret (every logic node checks the others' bot challenges)")
        elif env.get("Chat__Cluster__TrustedProxies") != str(address("nginx")):
            problems.append(f"{name}: Chat__Cluster__TrustedProxies is not nginx's address {address('nginx')}")

    # The same files as local-cluster.sh, mounted, never a copy of what they say.
    def mounts(name):
        return {v.split(":")[0]: v.split(":")[1] for v in services[name].get("volumes", []) if v.startswith("./")}

    mariadb = mounts("mariadb")
    if mariadb.get("./mariadb/chat-database.sql") != "/etc/chat/chat-database.sql" or "cat /etc/chat/chat-database.sql" not in init:
        problems.append("mariadb does not run deploy/mariadb/chat-database.sql (mounted at /etc/chat/, read by compose/mariadb-init/chat-database.sh)")
    if re.search(r"\bgrant\b", init, re.I):
        problems.append("compose/mariadb-init/chat-database.sh grants privileges itself; deploy/mariadb/chat-database.sql alone does")
    if not mariadb.get("./mariadb/chat.cnf", "").startswith("/etc/mysql/conf.d/"):
        problems.append("mariadb does not mount deploy/mariadb/chat.cnf into /etc/mysql/conf.d/")
    if "command" in services["mariadb"]:
        problems.append("mariadb has a command: its options belong in deploy/mariadb/chat.cnf")
    if mounts("nginx").get("./nginx/chat.conf.template") != "/etc/nginx/templates/default.conf.template":
        problems.append("nginx does not render deploy/nginx/chat.conf.template (mounted as /etc/nginx/templates/default.conf.template)")
    nginx_env = services["nginx"].get("environment", {})
    for name in sorted(set(re.findall(r"\$\{(CHAT_\w+)\}", template)) - set(nginx_env)):
        problems.append(f"nginx: deploy/nginx/chat.conf.template names ${{{name}}}, compose.yaml gives it no value")
    published = {str(p).rsplit(":", 1)[-1] for p in services["nginx"].get("ports", [])}
    if str(nginx_env.get("CHAT_LISTEN")) not in published:
        problems.append(f"nginx listens on {nginx_env.get('CHAT_LISTEN')} but publishes {sorted(published)}")

    for problem in problems:
        print("check-in-step:", problem)
    print(f"check-in-step: {len(problems)} problems ({len(services)} services, {len(known)} options in src/)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
