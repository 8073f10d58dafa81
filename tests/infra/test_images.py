"""The Dockerfiles, checked without a Docker engine: their structure (multi-stage, locked uv
install of one workspace member, non-root, healthcheck, nothing to build with at run time),
their build context (.dockerignore), and a replay of the Python builder stage with uv."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Dockerfile directory -> (port, CONTRACT §1)
PYTHON_IMAGES = {
    "services/auth": 8001,
    "services/gateway": 8002,
    "services/marketdata": 8003,
    "tools/fyers-emulator": 8090,
}
BUILD_TOOLS = re.compile(r"\b(apt-get|apk|gcc|cc|make|build-essential|pip install|uv )\b")


@dataclass
class Instruction:
    op: str
    args: str
    heredoc: str = ""


@dataclass
class Stage:
    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, op: str) -> list[Instruction]:
        return [i for i in self.instructions if i.op == op]


def parse(text: str) -> list[Stage]:
    """Instructions grouped by stage: continuations joined, comments dropped, heredocs kept."""
    stages: list[Stage] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            nxt = next(lines)
            if nxt.lstrip().startswith("#"):
                continue
            line = line[:-1] + " " + nxt.strip()
        op, _, args = line.strip().partition(" ")
        instruction = Instruction(op.upper(), args.strip())
        marker = re.search(r"<<-?'?(\w+)'?", args)
        if marker:
            body = []
            for nxt in lines:
                if nxt.strip() == marker.group(1):
                    break
                body.append(nxt)
            instruction.heredoc = "\n".join(body) + "\n"
        if instruction.op == "FROM":
            base, _, name = args.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip()))
        elif stages:
            stages[-1].instructions.append(instruction)
    return stages


def member(root: Path, directory: str) -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((root / directory / "pyproject.toml").read_text())[
        "project"
    ]
    return project


@pytest.mark.parametrize("directory", sorted(PYTHON_IMAGES))
def test_python_image_structure(infra: Any, directory: str) -> None:
    port = PYTHON_IMAGES[directory]
    project = member(infra.root, directory)
    stages = parse((infra.root / directory / "Dockerfile").read_text())
    assert [s.name for s in stages] == ["builder", "runtime"]
    builder, runtime = stages
    assert builder.base == runtime.base, "the venv's interpreter must be the same in both"

    syncs = [i.args for i in builder.all("RUN") if "uv sync" in i.args]
    assert syncs, "dependencies come from uv.lock"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args, args
        assert f"--package {project['name']}" in args, args
    assert "--no-editable" in syncs[-1]

    copies = runtime.all("COPY")
    assert [c.args for c in copies] == ["--from=builder --chown=root:root /opt/venv /opt/venv"]
    for run in runtime.all("RUN"):
        assert not BUILD_TOOLS.search(run.args.replace("pip uninstall", "")), run.args

    (user,) = runtime.all("USER")
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user (runAsNonRoot can check it)"
    (health,) = runtime.all("HEALTHCHECK")
    assert f"http://127.0.0.1:{port}/healthz" in health.args
    assert "urllib.request" in health.args, "curl is not in the image"
    (expose,) = runtime.all("EXPOSE")
    assert expose.args == str(port)
    (entrypoint,) = runtime.all("ENTRYPOINT")
    (script,) = eval_json(entrypoint.args)
    assert script in project["scripts"], f"{script} is not a console script of {project['name']}"
    (cmd,) = runtime.all("CMD")
    assert eval_json(cmd.args) == ["--host", "0.0.0.0", "--port", str(port)]


def eval_json(args: str) -> list[str]:
    import json

    value: list[str] = json.loads(args)
    return value


def test_web_image_structure(infra: Any) -> None:
    stages = parse((infra.root / "web/Dockerfile").read_text())
    assert [s.name for s in stages] == ["build", "runtime"]
    build, runtime = stages
    runs = " && ".join(i.args for i in build.all("RUN"))
    assert "npm ci" in runs and "npm run build" in runs
    (user,) = runtime.all("USER")
    assert user.args.split(":")[0] != "0"
    assert "healthz" in runtime.all("HEALTHCHECK")[0].args
    assert not runtime.all("RUN"), "the runtime stage only copies files"


def test_web_server_config_passes_nginx_t(infra: Any, tmp_path: Path) -> None:
    nginx = infra.tool("nginx", "nginx")
    stages = parse((infra.root / "web/Dockerfile").read_text())
    (runtime,) = [s for s in stages if s.name == "runtime"]
    (conf,) = [c.heredoc for c in runtime.all("COPY") if c.heredoc]
    (tmp_path / "default.conf").write_text(conf)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {tmp_path};\n"
        f"  include {tmp_path}/default.conf;\n}}\n"
    )
    infra.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])


def dockerignore(root: Path) -> list[str]:
    lines = (root / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: `**/` any directories, `*` and `?` within one."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: a path is excluded if it or a parent matches a pattern (no `!` used)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(pattern_regex(p).fullmatch(c) for p in patterns for c in candidates)


def test_dockerignore_keeps_sources_and_drops_the_rest(infra: Any) -> None:
    patterns = dockerignore(infra.root)
    dropped = (
        ".git/HEAD", ".venv/bin/python", "web/node_modules/react/index.js",
        "services/gateway/.venv/x", "libs/common/src/x/__pycache__/a.pyc",
        "web/dist/index.html", ".livews/signing.pem", "infra/compose/certs/tls.key",
    )  # fmt: skip
    for path in dropped:
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "uv.lock", "libs/common/src/livews_common/names.py",
                 "services/gateway/pyproject.toml", "web/package-lock.json", "web/src/main.tsx",
                 "infra/nginx/nginx.conf"):  # fmt: skip
        assert not ignored(path, patterns), path


@pytest.mark.parametrize("dockerfile", [f"{d}/Dockerfile" for d in sorted(PYTHON_IMAGES)] + [
    "web/Dockerfile"
])  # fmt: skip
def test_every_copied_path_is_in_the_build_context(infra: Any, dockerfile: str) -> None:
    patterns = dockerignore(infra.root)
    for stage in parse((infra.root / dockerfile).read_text()):
        for copy in stage.all("COPY"):
            args = [a for a in shlex.split(copy.args) if not a.startswith("--")]
            if copy.heredoc or any(a.startswith("--from") for a in shlex.split(copy.args)):
                continue
            for source in args[:-1]:
                assert (infra.root / source).exists(), f"{dockerfile}: {source} missing"
                assert not ignored(source.rstrip("/"), patterns), f"{dockerfile}: {source}"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("directory", sorted(PYTHON_IMAGES))
def test_builder_stage_replays_with_uv(infra: Any, directory: str, tmp_path: Path) -> None:
    """Run the builder stage's COPY and `uv sync` steps for real, in a scratch directory that
    holds only what the Dockerfile copies: the lock resolves for this member alone, and the
    venv it makes has the console script and no dev tools."""
    uv = infra.tool("uv", "uv (pip install uv)")
    (builder, runtime) = parse((infra.root / directory / "Dockerfile").read_text())
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    for instruction in builder.instructions:
        if instruction.op == "ENV":
            for pair in shlex.split(instruction.args):
                key, _, value = pair.partition("=")
                env[key] = value
        elif instruction.op == "COPY":
            *sources, dest = shlex.split(instruction.args)
            for source in sources:
                copy_into(infra.root / source, src, dest)
        elif instruction.op == "RUN" and "uv sync" in instruction.args:
            command = instruction.args[instruction.args.index("uv sync") :]
            env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON=sys.executable)
            argv = [uv, *shlex.split(command)[1:]]
            proc = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, f"{command}\n{proc.stderr}"
    (script,) = eval_json(runtime.all("ENTRYPOINT")[0].args)
    assert (venv / "bin" / script).is_file()
    assert not (venv / "bin" / "pytest").exists(), "dev dependencies stay out of images"
    assert not list(venv.glob("lib/python*/site-packages/*.pth")) or not any(
        str(src) in p.read_text() for p in venv.glob("lib/python*/site-packages/*.pth")
    ), "installed as wheels, not editable links to the build directory"
    proc = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True)
    if "not implemented yet" not in proc.stdout + proc.stderr:
        assert proc.returncode == 0, proc.stderr


def copy_into(source: Path, workdir: Path, dest: str) -> None:
    """COPY semantics: a directory's contents into dest; a file into dest/ or as dest."""
    target = workdir / dest
    if source.is_dir():
        shutil.copytree(
            source, target, dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".venv", "__pycache__", "tests", "node_modules"),
        )  # fmt: skip
    else:
        if dest.endswith("/"):
            target = target / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
