def handle(inputs: dict) -> dict:
    print(f"echoing {sorted(inputs)}")
    return dict(inputs)
