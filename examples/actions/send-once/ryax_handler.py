"""Sends a message at most once per execution, with the execution id as idempotency key.

The outbox folder stands for an outside system that accepts an idempotency key (a payment
provider, a mail service). A step interrupted by a crash is sent again with the same execution
id, and may then run again: the message file, created only when absent, makes that second
run send nothing.
"""

import hashlib
from pathlib import Path

from oryx_wrapper import current_execution_id


def handle(inputs: dict) -> dict:
    key = current_execution_id()
    if key is None:
        raise RuntimeError("no execution id: this action runs inside the Oryx wrapper")
    outbox = Path(inputs["outbox"])
    outbox.mkdir(parents=True, exist_ok=True)
    # any id becomes a safe file name, and two ids never share one
    message = outbox / f"{hashlib.sha256(key.encode()).hexdigest()}.txt"
    try:
        with message.open("x") as out:
            out.write(f"{key}\n{inputs['message']}\n")
    except FileExistsError:
        print(f"already sent with the key {key}")
        return {"key": key, "sent": False}
    print(f"sent with the key {key}")
    return {"key": key, "sent": True}
