import tempfile
from pathlib import Path

from ryax_wrapper import RyaxSourceProtocol


async def run(service: RyaxSourceProtocol, input_values: dict) -> None:
    note = Path(tempfile.mkdtemp()) / "note.txt"
    note.write_text(input_values["message"] + "\n", encoding="utf-8")
    await service.create_run({"message": input_values["message"], "note": str(note)})
    note.unlink()  # the wrapper copied it when create_run returned
