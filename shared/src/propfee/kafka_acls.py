"""Each service's Kafka permissions, derived from the topic declarations (``propfee.topics``).

One service, one Kafka user, least privilege:

- **write** (``Write``, ``Describe``) the topics of the events it publishes (``PUBLICATIONS``)
  and its own dead-letter topics (``<topic>.dlq.<service>``, one per subscription);
- **read** (``Read``, ``Describe``) the topics it subscribes to (``SUBSCRIPTIONS``);
- **its consumer group** (``Read``, ``Describe``): the group id is the service's name.

Nothing else: no ``Create`` (topics are made by the Strimzi Topic Operator or by an
administrator with ``python -m propfee.admin topics``), no ``Alter``, no cluster permission.
The idempotent producer needs no ``IdempotentWrite`` on the cluster: since Kafka 2.8 (KIP-679)
``Write`` on a topic is enough for it to get a producer id.

The Helm chart's ``KafkaUser`` resources (``deploy/kubernetes/tools/gen_users.py``) and the
local secure broker's ACLs (``python -m propfee.kafka_acls``, applied with Kafka's
``kafka-acls`` tool by ``deploy/local/infra.sh``) are both generated from here.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Literal

from propfee.topics import PUBLICATIONS, SUBSCRIPTIONS, dlq_topic

ResourceType = Literal["topic", "group"]
WRITE = ("Write", "Describe")
READ = ("Read", "Describe")


@dataclass(frozen=True)
class Acl:
    """Allow ``operations`` on one resource (a literal name, never a prefix or a wildcard)."""

    resource_type: ResourceType
    name: str
    operations: tuple[str, ...]

    def strimzi(self) -> dict[str, object]:
        """One entry of a Strimzi ``KafkaUser``'s ``spec.authorization.acls``."""
        return {
            "resource": {"type": self.resource_type, "name": self.name, "patternType": "literal"},
            "operations": list(self.operations),
            "host": "*",
        }


def service_acls(service: str, prefix: str = "") -> list[Acl]:
    """The ACLs of ``service``'s Kafka user; ``prefix`` is ``PROPFEE_TOPIC_PREFIX`` (topics and
    the consumer group carry it; empty in production)."""
    if service not in SUBSCRIPTIONS:
        raise ValueError(f"unknown service {service!r}; known: {', '.join(SUBSCRIPTIONS)}")
    writes = {e.topic() for e in PUBLICATIONS[service]}
    writes |= {dlq_topic(e.topic(), service) for e in SUBSCRIPTIONS[service]}
    reads = {e.topic() for e in SUBSCRIPTIONS[service]}
    acls = [Acl("topic", prefix + name, WRITE) for name in sorted(writes)]
    acls += [Acl("topic", prefix + name, READ) for name in sorted(reads)]
    acls.append(Acl("group", prefix + service, READ))
    return acls


def all_service_acls(prefix: str = "") -> dict[str, list[Acl]]:
    return {service: service_acls(service, prefix) for service in SUBSCRIPTIONS}


def cli_commands(principal: str, acls: list[Acl]) -> list[list[str]]:
    """``kafka-acls --add`` argument lists for ``acls``, one per set of operations (each names
    several resources): fewer runs of the tool, the same ACLs."""
    by_operations: dict[tuple[str, ...], list[Acl]] = {}
    for acl in acls:
        by_operations.setdefault(acl.operations, []).append(acl)
    commands = []
    for operations, group in by_operations.items():
        args = ["--allow-principal", f"User:{principal}", "--allow-host", "*"]
        for operation in operations:
            args += ["--operation", operation]
        for acl in group:
            args += [f"--{acl.resource_type}", acl.name]
        commands.append([*args, "--resource-pattern-type", "literal"])
    return commands


def main(argv: list[str] | None = None) -> int:
    """Print ``kafka-acls --add`` arguments (one command a line, tab-separated), for scripts."""
    parser = argparse.ArgumentParser(prog="python -m propfee.kafka_acls", description=main.__doc__)
    parser.add_argument("service", nargs="*", help="services (default: all)")
    parser.add_argument("--prefix", default="", help="PROPFEE_TOPIC_PREFIX of the topics")
    parser.add_argument(
        "--principal-format",
        default="{service}",
        help="Kafka user name of a service (default: the service name)",
    )
    args = parser.parse_args(argv)
    for service in args.service or list(SUBSCRIPTIONS):
        principal = args.principal_format.format(service=service)
        for command in cli_commands(principal, service_acls(service, args.prefix)):
            print("\t".join(command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
