import time


def handle(inputs: dict) -> dict:
    started = time.monotonic()
    print(f"sleeping {inputs['seconds']} s", flush=True)
    time.sleep(inputs["seconds"])
    return {"slept": time.monotonic() - started}
