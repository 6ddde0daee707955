from dataclasses import dataclass


# Defined in the action itself, the way Ryax documents user-defined errors.
@dataclass
class RyaxException(Exception):
    message: str
    code: int


def handle(inputs: dict) -> dict:
    print(f"looking for {inputs['query']!r}")
    raise RyaxException(message=f"nothing found for {inputs['query']!r}", code=404)
