import tempfile
from pathlib import Path


def transform(text: str, mode: str) -> str:
    if mode == "upper":
        return text.upper()
    if mode == "lower":
        return text.lower()
    return "\n".join(reversed(text.splitlines())) + "\n"


def handle(inputs: dict) -> dict:
    source = Path(inputs["text_file"])
    text = source.read_text(encoding="utf-8")
    result = Path(tempfile.mkdtemp()) / f"{source.stem}-{inputs['mode']}{source.suffix}"
    result.write_text(transform(text, inputs["mode"]), encoding="utf-8")
    print(f"wrote {result.name}")
    return {"result": str(result), "lines": len(text.splitlines())}
