"""Services share no library: some infrastructure is copied into each service instead. This
table names the copies that must stay the same (up to the package name), so a fix made in one
copy is made in all of them, or the copy leaves the table with a reason."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALL_DB = ("authorization", "repository", "studio", "runner")
COPIES: dict[str, tuple[str, ...]] = {
    "infrastructure/messaging/broker.py": ALL_DB,
    "infrastructure/messaging/rabbitmq.py": ALL_DB,
    "infrastructure/messaging/inprocess.py": (*ALL_DB, "action_builder"),
    "infrastructure/messaging/relay.py": ALL_DB,
    "infrastructure/messaging/consumer.py": ("repository", "studio", "runner"),
    "infrastructure/database/pagination.py": ALL_DB,
    "infrastructure/authorization/client.py": ("repository", "studio", "runner"),
    "infrastructure/filestore/local.py": ("repository", "studio", "runner"),
    "infrastructure/filestore/s3.py": ("repository", "studio", "runner"),
}


def normalised(service: str, relative: str) -> str:
    text = (ROOT / "services" / service / "src" / f"oryx_{service}" / relative).read_text()
    for name in (service, service.replace("_", "-"), service.upper()):
        text = re.sub(rf"(oryx[_.-]|ORYX_){name}\b", r"\1SERVICE", text)
    return text


@pytest.mark.parametrize("relative", sorted(COPIES))
def test_copies_stay_the_same(relative: str) -> None:
    services = COPIES[relative]
    reference = normalised(services[0], relative)
    differing = [s for s in services[1:] if normalised(s, relative) != reference]
    assert not differing, (
        f"{relative} of {', '.join(differing)} differs from {services[0]}'s: apply the change "
        "to every copy, or take the service out of COPIES with a reason"
    )
