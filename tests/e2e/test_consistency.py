"""The samples' saga on their own PostgreSQL, under faults, on the real node.

1,000 orders from 6 concurrent clients (every 10th repeats an earlier Idempotency-Key of its client)
while user-service fails over to its standby track through the fault switch and back, and
order-service pods are force-deleted mid-run. Clients do what a careful client does: an order
without an answer (connection lost, 5xx) is sent again with the same key. Once the recovery loop has
run, the two databases must agree with each other and with every answer the clients got.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml
from sample_common.traffic import Meter

from tests.e2e.conftest import DWELL, failover_status, fault, pod_ips, service_url
from tests.support import kube
from tests.support.kube import wait_for
from tests.support.ms import MS_LABEL, wait_converged

pytestmark = pytest.mark.cluster
MANIFESTS = kube.ROOT / "samples" / "manifests"
RESULTS = kube.STATE / "logs" / "consistency.json"  # the figures of the last run, for the closing note
CLIENTS, ORDERS, USERS = 6, 1_000, 10
BALANCE = 6_000  # cents: 60 orders of 100 each, of the ~100 a user gets, so about 40 % are refused
REPEAT_EVERY = 10
PAUSE = 0.3  # seconds between a client's orders: the run lasts long enough for a failover and back


@dataclass
class Answer:
    key: str
    user_id: int
    code: int | None  # None: no answer after every attempt
    order: dict[str, Any] = field(default_factory=dict)


@dataclass
class Client:
    """One client's orders, sent one after another; what each got, and what went wrong on the way."""

    number: int
    meter: Meter
    url: str
    users: list[int]
    quota: int
    pause: float
    answers: list[Answer] = field(default_factory=list)
    trouble: Counter[str] = field(default_factory=Counter)

    def run(self, progress: Counter[str]) -> None:
        pick = random.Random(self.number)
        for i in range(self.quota):
            if i % REPEAT_EVERY == REPEAT_EVERY - 1:
                first = pick.choice(self.answers)
                key, user_id = first.key, first.user_id
            else:
                key, user_id = f"client{self.number}-order{i}", self.users[(i + self.number) % len(self.users)]
            self.answers.append(self.order(key, user_id))
            progress["orders"] += 1
            time.sleep(self.pause)

    def order(self, key: str, user_id: int, attempts: int = 6) -> Answer:
        for _ in range(attempts):
            try:
                code, body = self.meter.call("POST", self.url, body={"userId": user_id, "item": "book"},
                                             headers={"Idempotency-Key": key})
            except OSError as err:
                self.trouble[f"no answer ({type(err).__name__})"] += 1
            else:
                if code < 500:
                    return Answer(key, user_id, code, body if isinstance(body, dict) else {"text": body})
                self.trouble[f"http-{code}"] += 1
            time.sleep(0.5)
        return Answer(key, user_id, None)


def shipped(file: str, namespace: str) -> list[dict[str, Any]]:
    """The objects of a shipped manifest, moved to ``namespace``."""
    objs = [o for o in yaml.safe_load_all((MANIFESTS / file).read_text()) if o]
    for obj in objs:
        obj["metadata"]["namespace"] = namespace
    return objs


def deploy_shop(namespace: str) -> None:
    """The shipped databases and services; user as a primary (v1) with a cold standby (v2) behind the
    ActiveStandby policy and the fault switch, 4 replicas each."""
    for obj in shipped("user-db.yaml", namespace) + shipped("order-db.yaml", namespace):
        kube.apply_obj(obj)
    (user,) = shipped("user.yaml", namespace)
    user["spec"]["replicas"] = 4
    for track, weight in zip(user["spec"]["tracks"], (100, 0), strict=True):
        track["weight"] = weight
        track["env"].append({"name": "FAULT_INJECTION", "value": "enabled"})
    user["spec"]["failover"] = {"policy": "ActiveStandby", "primary": "v1", "standby": "v2", **DWELL}
    (order,) = shipped("order.yaml", namespace)
    for obj in (user, order):
        kube.apply_obj(obj)
    for name in ("user", "order"):
        wait_converged(namespace, name, timeout=240)
        kube.wait_pods_ready(namespace, f"{MS_LABEL}={name}", 4, timeout=240)


def sql(namespace: str, db: str, query: str) -> list[list[str]]:
    """Rows of ``query`` run by psql in the database's pod (its local socket, as its owner)."""
    owner = {"user-db": "users", "order-db": "orders"}[db]
    out = kube.kubectl("exec", "-n", namespace, f"{db}-0", "--", "psql", "-U", owner, "-d", owner, "-At",
                       "-F", "\t", "-c", query).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def force_delete_order_pods(namespace: str, count: int) -> list[str]:
    listed = kube.core().list_namespaced_pod(namespace, label_selector=f"{MS_LABEL}=order").items
    pods = [p.metadata.name for p in listed if p.metadata.deletion_timestamp is None][:count]
    kube.kubectl("delete", "pod", "-n", namespace, *pods, "--grace-period=0", "--force")
    return pods


def wait_progress(progress: Counter[str], count: int) -> int:
    wait_for(lambda: progress["orders"] >= count, timeout=300, what=f"{count} orders sent")
    return progress["orders"]


def faults(namespace: str, meter: Meter, progress: Counter[str]) -> dict[str, int]:
    """The faults, each at a point of the run; the orders sent when each took effect."""
    seen: dict[str, int] = {}
    wait_progress(progress, 100)
    fault(meter, namespace, "user", "v1", "unready")
    wait_for(lambda: failover_status(namespace, "user").get("active"), timeout=90, what="user to fail over")
    seen["user failed over"] = progress["orders"]
    seen["order pods force-deleted (1)"] = wait_progress(progress, 350)
    force_delete_order_pods(namespace, 2)
    wait_progress(progress, 500)
    fault(meter, namespace, "user", "v1", "ready")
    wait_for(lambda: not failover_status(namespace, "user").get("active"), timeout=90, what="user to fail back")
    seen["user failed back"] = progress["orders"]
    seen["order pods force-deleted (2)"] = wait_progress(progress, 750)
    force_delete_order_pods(namespace, 2)
    return seen


def run_clients(clients: list[Client], progress: Counter[str]) -> list[threading.Thread]:
    threads = [threading.Thread(target=c.run, args=(progress,), name=f"shop-client-{c.number}", daemon=True)
               for c in clients]
    for thread in threads:
        thread.start()
    return threads


def create_users(meter: Meter, namespace: str, count: int, balance: int) -> list[int]:
    url = service_url(meter, namespace, "user", "/users")
    ids = []
    for n in range(count):
        code, user = meter.call("POST", url, body={"name": f"Shopper {n}", "email": f"s{n}@example.com",
                                                   "balance": balance})
        assert code == 201, user
        ids.append(user["id"])
    return ids


def settle_unanswered(client: Client) -> None:
    """Orders that got no answer during the run are sent again with their key, as the client would."""
    for i, answer in enumerate(client.answers):
        if answer.code is None:
            client.answers[i] = client.order(answer.key, answer.user_id, attempts=30)


def debit_retries(meter: Meter, namespace: str) -> int:
    """debit_retries_total summed over the order-service pods that are running now."""
    total = 0
    for ip in pod_ips(namespace, f"{MS_LABEL}=order"):
        _, text = meter.call("GET", f"http://{ip}:8080/metrics")
        total += sum(int(float(v)) for v in re.findall(r"^debit_retries_total (\S+)$", str(text), re.M))
    return total


def check_invariants(namespace: str, meter: Meter, clients: list[Client], users: list[int]) -> Counter[str]:
    """The two databases agree with each other and with every answer; the final statuses, counted."""
    orders = {key: {"id": int(i), "user": int(u), "amount": int(a), "status": s}
              for i, key, u, a, s in sql(namespace, "order-db", "SELECT id, key, user_id, amount, status FROM orders")}
    answers = [a for c in clients for a in c.answers]
    assert {a.key for a in answers} == set(orders), "every key sent is one order, and no order is unknown"
    for answer in answers:  # every answer (2xx or refusal) holds: its order is there, with that outcome
        order = orders[answer.key]
        assert answer.code in (201, 202, 422) and answer.order["id"] == order["id"], answer
        assert order["status"] == {201: "CONFIRMED", 422: "REJECTED"}.get(answer.code, order["status"]), answer
    assert not [k for k, o in orders.items() if o["status"] == "PENDING"], "an order is left PENDING"
    confirmed = {k: o for k, o in orders.items() if o["status"] == "CONFIRMED"}
    debits = {key: int(amount) for key, amount in
              sql(namespace, "user-db", "SELECT key, amount FROM debits WHERE outcome = 'applied'")}
    assert debits == {k: o["amount"] for k, o in confirmed.items()}, "a debit without its confirmed order, or back"
    url = service_url(meter, namespace, "user", "/users")
    for user_id in users:
        code, user = meter.call("GET", f"{url}/{user_id}")
        spent = sum(o["amount"] for o in confirmed.values() if o["user"] == user_id)
        assert code == 200 and user["balance"] == BALANCE - spent, (user, spent)
    return Counter(o["status"] for o in orders.values())


def throughput(meter: Meter, namespace: str, url: str) -> float:
    """Orders per second with the same clients at full speed, no pause, no faults."""
    users = create_users(meter, namespace, CLIENTS, 10_000_000)
    clients = [Client(n + 100, meter, url, [users[n]], 50, 0.0) for n in range(CLIENTS)]
    started = time.monotonic()
    for thread in run_clients(clients, Counter()):
        thread.join(timeout=300)
    elapsed = time.monotonic() - started
    assert all(a.code == 201 for c in clients for a in c.answers)
    return CLIENTS * 50 / elapsed


@pytest.mark.timeout(900)
def test_a_thousand_orders_through_failover_and_killed_pods_keep_both_databases_consistent(
        chart_operator: str, real_namespace: str, meter: Meter) -> None:
    ns = real_namespace
    deploy_shop(ns)
    users = create_users(meter, ns, USERS, BALANCE)
    url = service_url(meter, ns, "order", "/orders")
    clients = [Client(n, meter, url, users, ORDERS // CLIENTS + (n < ORDERS % CLIENTS), PAUSE) for n in range(CLIENTS)]
    progress: Counter[str] = Counter()
    started = time.monotonic()
    threads = run_clients(clients, progress)
    seen = faults(ns, meter, progress)
    for thread in threads:
        thread.join(timeout=300)
    run_seconds = time.monotonic() - started
    assert progress["orders"] == ORDERS
    assert seen["user failed over"] < ORDERS and seen["order pods force-deleted (2)"] < ORDERS, seen
    retries = debit_retries(meter, ns)
    for client in clients:
        settle_unanswered(client)
    wait_for(lambda: sql(ns, "order-db", "SELECT count(*) FROM orders WHERE status = 'PENDING'") == [["0"]],
             timeout=120, what="the recovery loop to settle every PENDING order")
    statuses = check_invariants(ns, meter, clients, users)
    assert statuses["CONFIRMED"] > 0 and statuses["REJECTED"] > 0, statuses
    first = {a.key: a.order["id"] for c in clients for a in reversed(c.answers)}
    repeats = [a for c in clients for i, a in enumerate(c.answers) if i % REPEAT_EVERY == REPEAT_EVERY - 1]
    assert all(a.order["id"] == first[a.key] for a in repeats)  # a repeated key gives the first order
    figures = {"orders": ORDERS, "clients": CLIENTS, "run_seconds": round(run_seconds, 1), "faults_at": seen,
               "statuses": dict(statuses), "answers": dict(Counter(str(a.code) for c in clients for a in c.answers)),
               "client_trouble": dict(sum((c.trouble for c in clients), Counter())),
               "debit_retries_total_surviving_pods": retries,
               "orders_per_second_full_speed": round(throughput(meter, ns, url), 1)}
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
