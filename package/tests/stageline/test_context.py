"""The build context is the same tar whoever checked the sources out, and how."""

import os
import tarfile
from pathlib import Path

from stageline.context import included_paths, make_context


def checkout(root: Path, file_mode: int, dir_mode: int) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM x AS a\n")
    (root / ".dockerignore").write_text("# comment\n.env\nnode_modules\n.git\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "node_modules" / "x" / "index.js").write_text("x\n")
    for path in root.rglob("*"):
        os.chmod(path, dir_mode if path.is_dir() else file_mode)
    os.chmod(root / "run.sh", file_mode | 0o111)
    return root


def test_owner_and_mode_of_the_checkout_do_not_change_the_context(tmp_path: Path) -> None:
    laptop = checkout(tmp_path / "laptop", 0o644, 0o755)
    runner = checkout(tmp_path / "runner", 0o666, 0o777)
    for path in runner.rglob("*"):
        os.chown(path, 1234, 5678, follow_symlinks=False)
        os.utime(path, (1, 1), follow_symlinks=False)
    a = make_context(laptop, Path("Dockerfile"))
    b = make_context(runner, Path("Dockerfile"))
    assert a.sha256 == b.sha256


def test_dockerignore_keeps_secrets_and_dependencies_out(tmp_path: Path) -> None:
    root = checkout(tmp_path / "p", 0o644, 0o755)
    context = make_context(root, Path("Dockerfile"))
    with tarfile.open(fileobj=context.open()) as tar:
        members = {member.name: member for member in tar.getmembers()}
    assert "app/main.py" in members
    assert "Dockerfile" in members
    assert ".env" not in members
    assert not any(name.startswith("node_modules") for name in members)
    assert members["run.sh"].mode == 0o755
    assert members["app/main.py"].mode == 0o644
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}


def test_the_templates_build_context_holds_no_tooling() -> None:
    """The production image has the app only: no package, harness, tasks or docs."""
    root = Path(__file__).resolve().parents[3]
    tooling = ("package/", "stageline/", "testing/", "docs/", "tasks.py", "noxfile.py")
    assert not [path for path in included_paths(root) if path.startswith(tooling)]
