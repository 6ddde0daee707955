import tempfile
from pathlib import Path


def handle(inputs: dict) -> dict:
    source = Path(inputs["folder"])
    result = Path(tempfile.mkdtemp()) / f"{source.name}-upper"
    manifest = []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        target = result / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8").upper(), encoding="utf-8")
        manifest.append(f"{relative.as_posix()}\t{path.stat().st_size}")
    result.mkdir(parents=True, exist_ok=True)
    (result / "MANIFEST").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    return {"result": str(result), "files": len(manifest)}
