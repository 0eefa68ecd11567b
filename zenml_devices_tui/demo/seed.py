"""Realistic demo data: a hand-written fleet of devices, or any number of generated ones.

Everything is drawn from the ``random.Random`` passed in and dated relative to ``now``, so the same
seed and clock give the same rows. IP addresses come from the documentation ranges (RFC 5737) or
private ranges; like the real server, private addresses have empty city, region and country.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import NamedTuple

from zenml_devices_tui.demo.records import (
    ACTIVE,
    LOCKED,
    PENDING,
    VERIFIED,
    Device,
    User,
    random_hex,
    random_uuid,
)

DAY = timedelta(days=1)


class Place(NamedTuple):
    city: str
    region: str
    country: str
    ip_prefix: str


BERLIN = Place("Berlin", "Berlin", "DE", "198.51.100.")
MUNICH = Place("Munich", "Bavaria", "DE", "203.0.113.")
SAN_FRANCISCO = Place("San Francisco", "California", "US", "203.0.113.")
LONDON = Place("London", "England", "GB", "198.51.100.")
BANGALORE = Place("Bangalore", "Karnataka", "IN", "198.51.100.")
AMSTERDAM = Place("Amsterdam", "North Holland", "NL", "192.0.2.")
PARIS = Place("Paris", "Île-de-France", "FR", "192.0.2.")
ZURICH = Place("Zurich", "Zurich", "CH", "192.0.2.")
TOKYO = Place("Tokyo", "Tokyo", "JP", "203.0.113.")
NEW_YORK = Place("New York City", "New York", "US", "198.51.100.")
DUBLIN = Place("Dublin", "Leinster", "IE", "203.0.113.")
IOWA = Place("Council Bluffs", "Iowa", "US", "198.51.100.")
OREGON = Place("The Dalles", "Oregon", "US", "203.0.113.")
PRIVATE_10 = Place("", "", "", "10.")
PRIVATE_172 = Place("", "", "", "172.20.")
PRIVATE_192 = Place("", "", "", "192.168.1.")
PLACES = (BERLIN, MUNICH, SAN_FRANCISCO, LONDON, BANGALORE, AMSTERDAM, PARIS, ZURICH, TOKYO, NEW_YORK,
          DUBLIN, IOWA, OREGON, PRIVATE_10, PRIVATE_172, PRIVATE_192)


class Spec(NamedTuple):
    """One hand-written device. ``expiry``: "never", "future", "past", or "flow" (a login in progress)."""

    hostname: str
    os: str
    python: str
    zenml: str
    place: Place
    status: str = ACTIVE
    trusted: bool = False
    expiry: str = "never"
    age_days: float = 30.0
    idle_days: float | None = 1.0  # days since last_login; None = never used
    failed: int = 0


# hostname, os, python, zenml, place, then what makes each one interesting
FLEET = (
    Spec("ada-macbook-pro", "Darwin", "3.12.4", "0.98.0", BERLIN,
         trusted=True, age_days=41, idle_days=0.003),
    Spec("ada-thinkpad-x1", "Linux", "3.11.9", "0.97.1", BERLIN,
         trusted=True, expiry="future", age_days=12, idle_days=0.4),
    Spec("gpu-box-a100-3", "Linux", "3.10.14", "0.96.2", MUNICH, age_days=88, idle_days=0.02),
    Spec("gpu-box-h100-1", "Linux", "3.11.8", "0.98.0", MUNICH, age_days=9, idle_days=0.2),
    Spec("ci-runner-17", "Linux", "3.12.3", "0.98.0", PRIVATE_10, age_days=64, idle_days=0.001),
    Spec("ci-runner-04", "Linux", "3.9.19", "0.94.3", PRIVATE_10,
         status=LOCKED, age_days=230, idle_days=140),
    Spec("kubeflow-train-2", "Linux", "3.10.13", "0.95.0", PRIVATE_10,
         expiry="past", age_days=35, idle_days=5),
    Spec("kubeflow-train-5", "Linux", "3.11.7", "0.97.0", PRIVATE_10,
         expiry="future", age_days=6, idle_days=0.1),
    Spec("ada-win-desktop", "Windows", "3.12.1", "0.96.0", LONDON, age_days=120, idle_days=3),
    Spec("sf-office-imac", "Darwin", "3.13.0", "0.98.0", SAN_FRANCISCO,
         status=LOCKED, age_days=19, idle_days=11),
    Spec("blr-dev-vm-08", "Linux", "3.11.4", "0.93.2", BANGALORE, age_days=160, idle_days=0.9, failed=2),
    Spec("jupyter-hub-pod-7f9c", "Linux", "3.10.12", "0.98.0", PRIVATE_172, age_days=2, idle_days=0.05),
    Spec("airflow-worker-3", "Linux", "3.9.18", "0.92.0", PRIVATE_10, age_days=300, idle_days=95),
    Spec("ada-surface-go", "Windows", "3.11.5", "0.95.0", AMSTERDAM,
         status=LOCKED, age_days=210, idle_days=180),
    Spec("sagemaker-nb-ada", "Linux", "3.10.14", "0.97.2", DUBLIN,
         trusted=True, expiry="future", age_days=25, idle_days=1.5),
    Spec("colab-vm-3b1e", "Linux", "3.12.11", "0.98.0", IOWA, age_days=1, idle_days=0.08),
    Spec("ada-macbook-air", "Darwin", "3.9.6", "0.91.2", PARIS, status=LOCKED, age_days=400, idle_days=320),
    Spec("vertex-train-gpu-12", "Linux", "3.11.9", "0.96.1", OREGON, age_days=50, idle_days=7),
    Spec("build-agent-win-02", "Windows", "3.10.11", "0.94.0", PRIVATE_10, age_days=75, idle_days=2),
    Spec("edge-jetson-orin-1", "Linux", "3.10.12", "0.95.3", PRIVATE_192, age_days=140, idle_days=16),
    Spec("ada-pixelbook", "Linux", "3.11.2", "0.93.0", ZURICH, trusted=True, age_days=190, idle_days=40),
    # signing in again right now: back to pending, still owned by ada
    Spec("staging-runner-9", "Linux", "3.12.7", "0.98.0", PRIVATE_10,
         status=PENDING, expiry="flow", age_days=70, idle_days=4),
    # approved a moment ago; the CLI has not fetched its token yet
    Spec("ada-mbp-m3", "Darwin", "3.13.1", "0.98.0", BERLIN,
         status=VERIFIED, expiry="flow", age_days=0.002, idle_days=None),
    Spec("k8s-batch-node-44", "Linux", "3.11.10", "0.97.1", PRIVATE_10,
         expiry="future", age_days=3, idle_days=0.3),
    Spec("tokyo-lab-ws-3", "Linux", "3.12.2", "0.96.0", TOKYO, age_days=15, idle_days=None),
    Spec("nyc-trading-ws-1", "Windows", "3.11.8", "0.97.0", NEW_YORK,
         trusted=True, age_days=33, idle_days=0.6),
)

# Someone else's devices, and a login nobody has approved: the list must never show these to the demo user.
OTHER_USER_FLEET = (
    Spec("grace-macbook-pro", "Darwin", "3.12.5", "0.98.0", SAN_FRANCISCO, trusted=True, age_days=20),
    Spec("grace-ci-runner-2", "Linux", "3.11.9", "0.97.2", PRIVATE_10, age_days=45, idle_days=0.5),
)
UNCLAIMED = Spec("unknown-laptop", "Linux", "3.12.0", "0.98.0", LONDON, status=PENDING, expiry="flow",
                 age_days=0.001, idle_days=None)

PREFIXES = ("ada-laptop", "gpu-box-a100", "gpu-box-h100", "ci-runner", "kubeflow-train", "airflow-worker",
            "jupyter-pod", "build-agent", "edge-node", "k8s-batch-node", "vertex-train", "sagemaker-nb")
OSES = ("Linux", "Linux", "Linux", "Darwin", "Windows")
PYTHONS = ("3.9.19", "3.10.14", "3.11.9", "3.11.7", "3.12.4", "3.12.7", "3.13.0", "3.13.1")
ZENMLS = ("0.90.0", "0.91.2", "0.93.0", "0.94.3", "0.95.0", "0.96.2", "0.97.1", "0.98.0")


def _jitter(rng: random.Random, days: float) -> timedelta:
    """About ``days``, give or take 20 %, with microseconds like real timestamps."""
    return timedelta(days=days * rng.uniform(0.8, 1.2), microseconds=rng.randrange(1_000_000))


def _from_spec(spec: Spec, rng: random.Random, now: datetime, owner: User | None) -> Device:
    created = now - _jitter(rng, spec.age_days)
    last_login = None if spec.idle_days is None else max(created, now - _jitter(rng, spec.idle_days))
    device = Device(
        id=random_uuid(rng),
        client_id=random_uuid(rng),
        status=spec.status,
        created=created,
        updated=last_login or created,
        user_id=owner.id if owner else None,
        trusted_device=spec.trusted,
        failed_auth_attempts=spec.failed,
        last_login=last_login,
        os=spec.os,
        ip_address=f"{spec.place.ip_prefix}{_ip_suffix(rng, spec.place)}",
        hostname=spec.hostname,
        python_version=spec.python,
        zenml_version=spec.zenml,
        city=spec.place.city,
        region=spec.place.region,
        country=spec.place.country,
        user_code=random_hex(rng, 16),
        device_code=random_hex(rng, 32),
    )
    if spec.expiry == "future":
        device.expires = now + _jitter(rng, 20 if spec.trusted else 1)
    elif spec.expiry == "past":
        device.expires = now - _jitter(rng, 0.5)
    elif spec.expiry == "flow":  # authorized a minute ago; a verified one was approved since
        authorized = now - timedelta(seconds=rng.uniform(20, 90))
        device.created = min(device.created, authorized)
        device.expires = authorized + timedelta(seconds=300)
        device.updated = authorized + timedelta(seconds=rng.uniform(5, 15) if spec.status == VERIFIED else 0)
        if device.last_login is not None:
            device.last_login = min(device.last_login, authorized)
    return device


def _ip_suffix(rng: random.Random, place: Place) -> str:
    dots = place.ip_prefix.count(".")
    return ".".join(str(rng.randrange(1, 255)) for _ in range(4 - dots))


def seed_fleet(rng: random.Random, now: datetime, owner: User, other: User) -> list[Device]:
    """The hand-written fleet: every status, trusted or not, three OSes, a dozen places."""
    devices = [_from_spec(spec, rng, now, owner) for spec in FLEET]
    devices += [_from_spec(spec, rng, now, other) for spec in OTHER_USER_FLEET]
    devices.append(_from_spec(UNCLAIMED, rng, now, None))
    return devices


def generated_device(rng: random.Random, now: datetime, owner: User, index: int) -> Device:
    """One made-up device with a unique hostname (``<prefix>-<index>``), mostly active."""
    roll = rng.random()
    status = ACTIVE if roll < 0.85 else LOCKED if roll < 0.97 else PENDING
    expiry = "flow" if status == PENDING else rng.choice(("never", "never", "never", "future", "past"))
    spec = Spec(
        hostname=f"{PREFIXES[index % len(PREFIXES)]}-{index}",
        os=rng.choice(OSES),
        python=rng.choice(PYTHONS),
        zenml=rng.choice(ZENMLS),
        place=rng.choice(PLACES),
        status=status,
        trusted=rng.random() < 0.3,
        expiry=expiry,
        age_days=rng.uniform(0.1, 365),
        idle_days=None if rng.random() < 0.05 else rng.uniform(0.0005, 60),
        failed=rng.choice((0, 0, 0, 0, 0, 0, 1, 2)),
    )
    return _from_spec(spec, rng, now, owner)


def generated_fleet(rng: random.Random, now: datetime, owner: User, count: int) -> list[Device]:
    return [generated_device(rng, now, owner, index) for index in range(1, count + 1)]
