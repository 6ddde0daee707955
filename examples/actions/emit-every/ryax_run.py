import asyncio
import time

from ryax_execution.ryax_source_protocol import RyaxSourceProtocol


async def run(service: RyaxSourceProtocol, input_values: dict) -> None:
    index = 0
    while input_values["max_runs"] == 0 or index < input_values["max_runs"]:
        await asyncio.sleep(input_values["seconds"])
        index += 1
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"run {index} at {now}")
        await service.create_run({"index": index, "time": now})
