import os
import time
from pathlib import Path

import pytest

from oryx_repository.domain.action_format import ActionKind, FormatError
from oryx_repository.infrastructure.scanning.scanner import (
    RepositoryScan,
    ScanLimits,
    ScannedAction,
    scan_repository,
)

from .conftest import HANDLER, RUN, image, metadata, processor, source, write


def scan(root: Path, **limits: int) -> RepositoryScan:
    return scan_repository(root=root, limits=ScanLimits(**limits))


def only(result: RepositoryScan) -> ScannedAction:
    assert result.errors == []
    [action] = result.actions
    return action


def reasons(action: ScannedAction) -> list[tuple[str, str, str]]:
    return [(e.file, e.field, e.reason) for e in action.errors]


def has_error(action: ScannedAction, file: str, field: str, fragment: str) -> bool:
    return any(e.file == file and e.field == field and fragment in e.reason for e in action.errors)


class TestGoodRepositories:
    def test_every_action_folder_at_any_depth(self, repo: Path) -> None:
        write(repo, processor("actions/echo", description="Echo it"))
        write(repo, source("sources/deep/ticker"))
        write(repo, {"README.md": "# actions", "actions/notes.txt": "not an action"})
        result = scan(repo)
        assert result.errors == []
        echo, ticker = result.actions
        assert (echo.path, ticker.path) == ("actions/echo", "sources/deep/ticker")
        assert echo.is_valid and ticker.is_valid
        assert echo.metadata is not None and echo.metadata.description == "Echo it"
        assert ticker.metadata is not None and ticker.metadata.kind is ActionKind.SOURCE
        assert echo.metadata_file == "actions/echo/ryax_metadata.yaml"
        assert echo.archive_files == ["ryax_handler.py", "ryax_metadata.yaml"]
        assert echo.document is not None and echo.document["spec"]["id"] == "echo"
        assert echo.size == sum(
            (repo / "actions/echo" / name).stat().st_size for name in echo.archive_files
        )

    def test_an_action_at_the_root_with_everything(self, repo: Path) -> None:
        write(
            repo,
            {
                "ryax_metadata.yaml": metadata("full", logo="logo.png"),
                "ryax_handler.py": HANDLER,
                "logo.png": image(250, 250),
                "helpers/util.py": "X = 1\n",
                "requirements.txt": (
                    "# pinned\n"
                    "requests==2.32.3\n"
                    "numpy>=1.26 ; python_version >= '3.11'  # fast\n"
                    "pkg[extra] @ https://example.com/pkg-1.0.tar.gz\n"
                    "\n"
                    "attrs==24.2.0 \\\n"
                    "    --hash=sha256:"
                    "81921eb96de3191c8258c199618104dd27ac608d9366f5e35d011eae1867ede2\n"
                ),
            },
        )
        action = only(scan(repo))
        assert action.errors == []
        assert action.path == "."
        assert action.metadata_file == "ryax_metadata.yaml"
        assert action.logo == (repo / "logo.png").read_bytes()
        assert action.logo_media_type == "image/png"
        assert action.archive_files == [
            "helpers/util.py",
            "logo.png",
            "requirements.txt",
            "ryax_handler.py",
            "ryax_metadata.yaml",
        ]

    def test_a_jpeg_logo(self, repo: Path) -> None:
        write(repo, processor("a", logo="img/logo.jpg"))
        write(repo, {"a/img/logo.jpg": image(100, 40, "JPEG")})
        action = only(scan(repo))
        assert action.errors == [] and action.logo_media_type == "image/jpeg"

    def test_oryx_metadata_yaml_is_read_too(self, repo: Path) -> None:
        write(repo, {"a/oryx_metadata.yaml": metadata("own"), "a/ryax_handler.py": HANDLER})
        action = only(scan(repo))
        assert action.is_valid and action.metadata_file == "a/oryx_metadata.yaml"

    @pytest.mark.parametrize(
        "code",
        [
            "from .impl import handle\n",
            "import os\nhandle = print\n",
            "try:\n    import fast\n\n    def handle(i):\n        return i\nexcept ImportError:\n"
            "    def handle(i):\n        return {}\n",
            "async def handle(inputs):\n    return {}\n",
        ],
    )
    def test_handle_may_be_imported_assigned_or_async(self, repo: Path, code: str) -> None:
        write(repo, processor("a"))
        write(repo, {"a/ryax_handler.py": code, "a/impl.py": HANDLER})
        assert only(scan(repo)).errors == []

    def test_same_id_with_another_version_is_fine(self, repo: Path) -> None:
        write(repo, processor("v1", "echo", version="1.0"))
        write(repo, processor("v2", "echo", version="2.0"))
        assert all(action.is_valid for action in scan(repo).actions)

    def test_git_folders_are_skipped(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {".git/ryax_metadata.yaml": "x: [", "a/.git/HEAD": "ref"})
        action = only(scan(repo))
        assert action.errors == [] and ".git/HEAD" not in action.archive_files

    def test_a_nested_action_is_not_part_of_the_outer_one(self, repo: Path) -> None:
        write(repo, processor("outer", "outer"))
        write(repo, processor("outer/inner", "inner"))
        outer, inner = scan(repo).actions
        assert outer.archive_files == ["ryax_handler.py", "ryax_metadata.yaml"]
        assert inner.path == "outer/inner" and inner.is_valid

    def test_symlinks_inside_the_repository_are_archived_as_their_files(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {"shared/common.py": "X = 1\n", "shared/lib/util.py": "Y = 2\n"})
        os.symlink("../shared/common.py", repo / "a" / "common.py")
        os.symlink("../shared/lib", repo / "a" / "lib")
        action = only(scan(repo))
        assert action.errors == []
        assert action.archive_files == [
            "common.py",
            "lib/util.py",
            "ryax_handler.py",
            "ryax_metadata.yaml",
        ]

    def test_a_symlink_loop_ends(self, repo: Path) -> None:
        write(repo, processor("a"))
        os.symlink(".", repo / "a" / "self")
        os.symlink("..", repo / "a" / "parent")
        started = time.monotonic()
        action = only(scan(repo))
        assert time.monotonic() - started < 2
        assert "ryax_handler.py" in action.archive_files


class TestBadRepositories:
    def test_no_metadata_at_all(self, repo: Path) -> None:
        write(repo, {"README.md": "nothing", "src/ryax_handler.py": HANDLER})
        result = scan(repo)
        assert result.actions == []
        assert [e.reason for e in result.errors] == [
            "no action found: no folder holds a ryax_metadata.yaml or oryx_metadata.yaml file"
        ]

    def test_an_empty_repository(self, repo: Path) -> None:
        assert len(scan(repo).errors) == 1

    def test_invalid_yaml_names_the_line(self, repo: Path) -> None:
        write(repo, {"a/ryax_metadata.yaml": "apiVersion: x\nspec:\n  id: [oops\n"})
        write(repo, {"a/ryax_handler.py": HANDLER})
        action = only(scan(repo))
        assert action.metadata is None
        [error] = action.errors
        assert (error.file, error.field) == ("a/ryax_metadata.yaml", "")
        assert error.reason.startswith("is not valid YAML")
        assert error.line == 4 and "line 4" in error.reason

    @pytest.mark.parametrize(
        ("text", "fragment"),
        [
            ("kind: Processor\nkind: Source\n", "the key 'kind' is written twice"),
            ("a: 1\n---\nb: 2\n", "expected a single document"),
            ("a: !!python/object:os.system {}\n", "could not determine a constructor"),
            ("[" * 5000 + "]" * 5000, "nested too deeply"),
            ("a: *nowhere\n", "found undefined alias"),
            ("\tkind: x\n", "is not valid YAML"),
        ],
    )
    def test_yaml_the_safe_loader_refuses(self, repo: Path, text: str, fragment: str) -> None:
        write(repo, {"a/ryax_metadata.yaml": text, "a/ryax_handler.py": HANDLER})
        [error] = only(scan(repo)).errors
        assert error.reason.startswith("is not valid YAML") and fragment in error.reason

    def test_yaml_that_is_not_a_mapping(self, repo: Path) -> None:
        write(repo, {"a/ryax_metadata.yaml": "- a\n- b\n", "a/ryax_handler.py": HANDLER})
        [error] = only(scan(repo)).errors
        assert "must hold a mapping" in error.reason

    def test_an_alias_bomb_stays_small(self, repo: Path) -> None:
        lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
        write(repo, {"a/ryax_metadata.yaml": "\n".join(lines) + "\n", "a/ryax_handler.py": HANDLER})
        started = time.monotonic()
        action = only(scan(repo))
        assert time.monotonic() - started < 5
        assert action.metadata is None and action.document is None
        assert action.errors

    def test_metadata_that_is_not_utf8(self, repo: Path) -> None:
        write(repo, {"a/ryax_metadata.yaml": b"kind: \xff\xfe\n", "a/ryax_handler.py": HANDLER})
        [error] = only(scan(repo)).errors
        assert "is not UTF-8 text" in error.reason

    def test_a_huge_metadata_file(self, repo: Path) -> None:
        write(repo, {"a/ryax_metadata.yaml": "# " + "x" * 2048, "a/ryax_handler.py": HANDLER})
        [error] = only(scan(repo, max_metadata_bytes=1024)).errors
        assert "more than the limit of 1024 bytes" in error.reason

    def test_wrong_types_name_each_field(self, repo: Path) -> None:
        document = metadata("Bad_Id", version=1.0, resources={"memory": "lots", "cpu": "x"})
        document["spec"]["inputs"] = [{"name": "n", "type": "integer", "default_value": "3"}]
        write(repo, {"a/ryax_metadata.yaml": document, "a/ryax_handler.py": HANDLER})
        action = only(scan(repo))
        assert action.metadata is None
        assert action.document is not None  # still shown to the person who fixes it
        assert sorted(e.field for e in action.errors) == [
            "spec.id",
            "spec.inputs[0].default_value",
            "spec.resources.cpu",
            "spec.resources.memory",
            "spec.version",
        ]
        assert all(e.file == "a/ryax_metadata.yaml" for e in action.errors)

    def test_duplicate_ids_in_one_repository(self, repo: Path) -> None:
        write(repo, processor("one", "same"))
        write(repo, processor("two", "same"))
        write(repo, processor("three", "other"))
        one, three, two = scan(repo).actions
        assert three.is_valid
        assert reasons(one) == [
            (
                "one/ryax_metadata.yaml",
                "spec.id",
                "the id 'same' with version '1.0' is also declared by two/ryax_metadata.yaml: "
                "each action needs its own id or version",
            )
        ]
        assert has_error(two, "two/ryax_metadata.yaml", "spec.id", "one/ryax_metadata.yaml")
        assert one.metadata is not None  # the metadata itself is fine

    def test_a_v1_action(self, repo: Path) -> None:
        v1 = {
            "apiVersion": "ryax.tech/v1",
            "kind": "Functions",
            "spec": {"id": "old", "human_name": "Old", "detail": "An old one", "version": "1"},
        }
        write(repo, {"old/ryax_metadata.yaml": v1, "old/handler.py": HANDLER})
        action = only(scan(repo))
        assert action.metadata is None
        assert [e.field for e in action.errors] == ["apiVersion", "kind", "spec.detail", ""]
        assert "To migrate to v2" in action.errors[0].reason
        assert action.errors[3] == FormatError(
            "old/handler.py", "", "handler.py is the v1 file name: rename it ryax_handler.py"
        )

    def test_a_v1_source_file(self, repo: Path) -> None:
        write(repo, source("s"))
        (repo / "s" / "ryax_run.py").rename(repo / "s" / "run.py")
        action = only(scan(repo))
        assert has_error(action, "s/run.py", "", "rename it ryax_run.py")
        assert has_error(action, "s/ryax_run.py", "", "is missing")

    @pytest.mark.parametrize(
        ("line", "fragment"),
        [
            ("requests==", "not a valid requirement"),
            ("numpy >= 1.0 <2", "not a valid requirement"),
            ("pandas==1.0; python_version >>> '3'", "not a valid requirement"),
            ("./local/package", "not a valid requirement"),
            ("git+https://github.com/a/b.git", "not a valid requirement"),
            ("-r other.txt", "pip options such as -r are not allowed"),
            ("-e .", "pip options such as -e are not allowed"),
            ("--index-url https://evil.example/simple", "such as --index-url are not allowed"),
            ("--extra-index-url=https://x", "such as --extra-index-url are not allowed"),
        ],
    )
    def test_a_bad_requirements_txt(self, repo: Path, line: str, fragment: str) -> None:
        write(repo, processor("a"))
        write(repo, {"a/requirements.txt": f"# deps\nrequests==2.32.3\n{line}\n"})
        action = only(scan(repo))
        assert action.metadata is not None
        [error] = action.errors
        assert (error.file, error.field, error.line) == ("a/requirements.txt", "line 3", 3)
        assert fragment in error.reason

    def test_a_huge_file(self, repo: Path) -> None:
        write(repo, processor("a"))
        with (repo / "a" / "model.bin").open("wb") as huge:
            huge.truncate(3 * 1024**2)  # sparse: big, yet nothing written
        action = only(scan(repo, max_file_bytes=1024**2))
        assert reasons(action) == [
            ("a/model.bin", "", "is 3.0 MiB, more than the limit of 1.0 MiB per file")
        ]
        assert "model.bin" not in action.archive_files

    def test_an_action_folder_larger_than_the_limit(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {f"a/data/{n}.bin": b"x" * 600 for n in range(4)})
        action = only(scan(repo, max_action_bytes=2000))
        assert has_error(action, "a", "", "more than the limit of 2000 bytes")

    @pytest.mark.parametrize("target", ["/etc/passwd", "../../../etc/passwd", "/", "../.."])
    def test_a_symlink_escaping_the_repository(self, repo: Path, target: str) -> None:
        write(repo, processor("a"))
        os.symlink(target, repo / "a" / "escape")
        action = only(scan(repo))
        assert reasons(action) == [
            (
                "a/escape",
                "",
                f"is a symbolic link to '{target}', outside the repository: links must point "
                "inside the repository",
            )
        ]
        assert "escape" not in action.archive_files

    def test_a_metadata_file_that_is_a_symlink_outside(self, repo: Path, tmp_path: Path) -> None:
        write(tmp_path, {"outside.yaml": metadata("outside")})
        (repo / "a").mkdir()
        os.symlink(tmp_path / "outside.yaml", repo / "a" / "ryax_metadata.yaml")
        write(repo, {"a/ryax_handler.py": HANDLER})
        action = only(scan(repo))
        assert action.metadata is None
        assert has_error(action, "a/ryax_metadata.yaml", "", "symbolic link outside")

    def test_a_broken_symlink(self, repo: Path) -> None:
        write(repo, processor("a"))
        os.symlink("missing.py", repo / "a" / "gone.py")
        action = only(scan(repo))
        assert reasons(action) == [("a/gone.py", "", "is a broken symbolic link to 'missing.py'")]

    def test_a_missing_handler_function(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {"a/ryax_handler.py": "def handler(inputs):\n    return {}\n"})
        action = only(scan(repo))
        assert action.metadata is not None and not action.is_valid
        assert reasons(action) == [
            (
                "a/ryax_handler.py",
                "handle",
                "has no top-level `handle` function; the action needs `def handle(inputs)`",
            )
        ]

    def test_a_handle_function_nested_in_a_class_does_not_count(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {"a/ryax_handler.py": "class A:\n    def handle(self, i):\n        pass\n"})
        assert has_error(only(scan(repo)), "a/ryax_handler.py", "handle", "no top-level")

    def test_a_missing_handler_file(self, repo: Path) -> None:
        write(repo, {"a/ryax_metadata.yaml": metadata("act"), "a/ryax_run.py": RUN})
        action = only(scan(repo))
        assert reasons(action) == [
            (
                "a/ryax_handler.py",
                "",
                "is missing: a processor runs the `handle` function of ryax_handler.py; "
                "ryax_run.py is for sources",
            )
        ]

    def test_a_source_needs_an_async_run(self, repo: Path) -> None:
        write(repo, source("s"))
        write(repo, {"s/ryax_run.py": "def run(service, input_values):\n    pass\n"})
        [error] = only(scan(repo)).errors
        assert (error.file, error.field, error.line) == ("s/ryax_run.py", "run", 1)
        assert "must be asynchronous" in error.reason

    def test_a_handler_that_is_not_python(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {"a/ryax_handler.py": "def handle(inputs):\n    return {\n"})
        [error] = only(scan(repo)).errors
        assert error.reason.startswith("is not valid Python") and error.line is not None

    def test_user_code_is_never_run(self, repo: Path, tmp_path: Path) -> None:
        marker = tmp_path / "ran"
        write(repo, processor("a"))
        write(repo, {"a/ryax_handler.py": f"open({str(marker)!r}, 'w')\n{HANDLER}"})
        assert only(scan(repo)).errors == []
        assert not marker.exists()

    @pytest.mark.parametrize(
        ("content", "fragment"),
        [
            (image(251, 100), "is 251x100 pixels; a logo may be at most 250x250"),
            (image(10, 300, "JPEG"), "is 10x300 pixels"),
            (b"not an image at all", "cannot be read as a PNG or JPEG image"),
            (image(10, 10, "GIF"), "must be a PNG or JPEG image, not GIF"),
        ],
    )
    def test_a_bad_logo(self, repo: Path, content: bytes, fragment: str) -> None:
        write(repo, processor("a", logo="logo.png"))
        write(repo, {"a/logo.png": content})
        action = only(scan(repo))
        [error] = action.errors
        assert (error.file, error.field) == ("a/ryax_metadata.yaml", "spec.logo")
        assert fragment in error.reason
        assert action.logo is None

    def test_a_missing_logo(self, repo: Path) -> None:
        write(repo, processor("a", logo="logo.png"))
        assert reasons(only(scan(repo))) == [
            ("a/ryax_metadata.yaml", "spec.logo", "'logo.png' is not in the action folder")
        ]

    def test_both_metadata_files(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {"a/oryx_metadata.yaml": metadata("act")})
        action = only(scan(repo))
        assert action.metadata_file == "a/oryx_metadata.yaml"
        assert reasons(action) == [
            (
                "a/ryax_metadata.yaml",
                "",
                "the folder also holds oryx_metadata.yaml, which is the one read: keep only one",
            )
        ]

    def test_too_many_actions(self, repo: Path) -> None:
        for n in range(4):
            write(repo, processor(f"a{n}", f"action-{n}"))
        result = scan(repo, max_actions=3)
        assert len(result.actions) == 3
        assert "holds 4 actions; only the first 3 were read" in result.errors[0].reason

    def test_too_many_files(self, repo: Path) -> None:
        write(repo, processor("a"))
        write(repo, {f"a/f{n}.txt": "x" for n in range(10)})
        action = only(scan(repo, max_files_per_action=5))
        assert has_error(action, "a", "", "more than 5 files")

    def test_every_problem_of_one_action_is_reported(self, repo: Path) -> None:
        document = metadata("act", logo="big.png")
        write(
            repo,
            {
                "a/ryax_metadata.yaml": document,
                "a/ryax_handler.py": "print('no handle')\n",
                "a/big.png": image(500, 500),
                "a/requirements.txt": "not a requirement!\n",
            },
        )
        os.symlink("/etc/hostname", repo / "a" / "host")
        files = sorted(e.file for e in only(scan(repo)).errors)
        assert files == [
            "a/host",
            "a/requirements.txt",
            "a/ryax_handler.py",
            "a/ryax_metadata.yaml",
        ]
