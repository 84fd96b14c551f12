#!/usr/bin/env python3
"""Checks what can be checked of deploy/compose.yaml without Docker: that it says what
deploy/local-cluster.sh (the tested equivalent) says, and names only settings that exist.

  python3 deploy/compose/check-in-step.py      (needs python3-yaml; exit 0 when all agree)

It reads the settings each role gets from local-cluster.sh's start_chat, start_logic and
start_broker, the option classes' properties from src/, and compares: each node's environment,
its addresses (listen on 0.0.0.0, advertise its own name; a silo advertises its fixed IP), the
database user's GRANTS, mariadbd's options, and that only nginx publishes a port. It does not
run anything: that compose.yaml works is still untested.
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
    "src/Chat.Host/Hosting/SiloExtensions.cs",
    "src/Chat.Logic/Storage/StoreOptions.cs",
]
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


def function_body(script, name):
    match = re.search(r"^%s\(\) \{\n(.*?)^\}" % name, script, re.S | re.M)
    if not match:
        sys.exit(f"check-in-step: no function {name} in local-cluster.sh")
    return match.group(1)


def settings(body):
    """--urls=... and --Chat:A:B=... as environment variable names (Urls, Chat__A__B), and the
    runtime's own DOTNET_* variables the function sets."""
    return {
        "Urls" if name == "urls" else name.replace(":", "__")
        for name in re.findall(r"--(urls|Chat:[A-Za-z:]+)=", body)
    } | set(re.findall(r"^\s*(DOTNET_\w+)=", body, re.M))


def options():
    """Chat__Section__Property for every settable property of the option classes."""
    found = set()
    for path in OPTION_FILES:
        text = (REPO / path).read_text()
        for section, body in re.findall(
            r'public const string Section = "([^"]+)";(.*?)(?=\n(?:public|internal) |\Z)', text, re.S
        ):
            for prop in re.findall(r"public [\w?<>]+ (\w+) \{ get; set; \}", body):
                found.add(section.replace(":", "__") + "__" + prop)
    return found


def main():
    compose = yaml.safe_load(interpolate((REPO / "deploy/compose.yaml").read_text()))
    script = (REPO / "deploy/local-cluster.sh").read_text()
    init = (REPO / "deploy/compose/mariadb-init/chat-database.sh").read_text()
    services = compose["services"]
    known = options()
    problems = []

    common = settings(function_body(script, "start_chat"))
    wanted = {
        "logic": common | settings(function_body(script, "start_logic")),
        "broker": common | settings(function_body(script, "start_broker")),
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
        missing = wanted[role] - set(env)
        extra = set(env) - wanted[role] - PER_NODE
        if missing:
            problems.append(f"{name}: local-cluster.sh sets {sorted(missing)}, compose.yaml does not")
        if extra:
            problems.append(f"{name}: compose.yaml sets {sorted(extra)}, local-cluster.sh does not")
        problems += [f"{name}: {key} is no option in src/" for key in sorted(set(env) - {"Urls"} - known) if not key.startswith("DOTNET_")]
        if services[name].get("command") != [role]:
            problems.append(f"{name}: command is not [{role}]")
        for key in ["Urls", "Chat__Cluster__GrpcUrl"]:
            if not str(env.get(key, "")).startswith("http://0.0.0.0:"):
                problems.append(f"{name}: {key} does not listen on 0.0.0.0")
        port = str(env.get("Chat__Cluster__GrpcUrl", "")).rsplit(":", 1)[-1]
        if env.get("Chat__Cluster__AdvertisedGrpcAddress") != f"{name}:{port}":
            problems.append(f"{name}: advertises gRPC as {env.get('Chat__Cluster__AdvertisedGrpcAddress')}, not {name}:{port}")
        if "cluster-secret" not in secrets:
            problems.append(f"{name}: has no cluster-secret")
        if role == "logic":
            if env.get("Chat__Silo__AdvertisedAddress") != str(address(name)):
                problems.append(f"{name}: Chat__Silo__AdvertisedAddress is not its ipv4_address {address(name)}")
            if "store-connection" not in secrets:
                problems.append(f"{name}: has no store-connection secret")
        elif env.get("Chat__Cluster__TrustedProxies") != str(address("nginx")):
            problems.append(f"{name}: Chat__Cluster__TrustedProxies is not nginx's address {address('nginx')}")

    grants = re.search(r'GRANTS="([^"]+)"', script).group(1)
    if re.search(r'GRANTS="([^"]+)"', init).group(1) != grants:
        problems.append("GRANTS in compose/mariadb-init/chat-database.sh differ from local-cluster.sh's")
    mariadbd = set(re.findall(r"--skip-name-resolve|--skip-log-bin|--max-connections=\d+", function_body(script, "start_mariadb")))
    if mariadbd != set(services["mariadb"]["command"]):
        problems.append(f"mariadb's command {services['mariadb']['command']} is not {sorted(mariadbd)}")

    for problem in problems:
        print("check-in-step:", problem)
    print(f"check-in-step: {len(problems)} problems ({len(services)} services, {len(known)} options in src/)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
