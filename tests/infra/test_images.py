"""The Dockerfiles, checked without a container engine: their structure (multi-stage, locked uv
install of one workspace member, non-root, healthcheck, nothing to build with at run time),
their build context (.dockerignore), the build arguments `make images` and docker-compose.yml
pass, and a replay of the Python builder stage with uv. `make images` and `make compose-test`
build and run them for real (scripts/images.sh, scripts/compose_test.py)."""

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

ROOT = Path(__file__).resolve().parents[2]

PYTHON_DOCKERFILE = "infra/images/python.Dockerfile"
#: workspace member directory -> port (CONTRACT §1); the image is livews/<name>:dev
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


@pytest.fixture(scope="module")
def compose(infra: Any) -> Any:
    return infra.load_yaml(infra.root / "docker-compose.yml")


def build_args(directory: str) -> dict[str, str]:
    """What scripts/images.sh passes for a member (its table: name, directory, package, port)."""
    script = (ROOT / "scripts/images.sh").read_text()
    for name, dir_, package, port in re.findall(r'"([\w-]+) ([\w/-]+) ([\w-]+) (\d+)"', script):
        if dir_ == directory:
            return {"NAME": name, "SERVICE_DIR": dir_, "PACKAGE": package, "PORT": port}
    raise AssertionError(f"scripts/images.sh does not build {directory}")


def expand(text: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), text)


def test_python_image_structure(infra: Any) -> None:
    stages = parse((infra.root / PYTHON_DOCKERFILE).read_text())
    assert [s.name for s in stages] == ["builder", "runtime"]
    builder, runtime = stages
    assert builder.base == runtime.base == "${BASE_IMAGE}", "one base: the venv's interpreter"

    syncs = [i.args for i in builder.all("RUN") if "uv sync" in i.args]
    assert syncs, "dependencies come from uv.lock"
    for args in syncs:
        assert "--frozen" in args and "--no-dev" in args, args
        assert "--package ${PACKAGE}" in args, args
    assert "--no-editable" in syncs[-1]
    assert "ln -s ${PACKAGE} /opt/venv/bin/livews-service" in syncs[-1]

    copies = runtime.all("COPY")
    assert [c.args for c in copies] == ["--from=builder --chown=root:root /opt/venv /opt/venv"]
    for run in runtime.all("RUN"):
        assert not BUILD_TOOLS.search(run.args.replace("pip uninstall", "")), run.args

    (user,) = runtime.all("USER")
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric non-root user (runAsNonRoot can check it)"
    (health,) = runtime.all("HEALTHCHECK")
    assert "http://127.0.0.1:%s/healthz" in health.args and "LIVEWS_IMAGE_PORT" in health.args
    assert "urllib.request" in health.args, "curl is not in the image"
    assert any("LIVEWS_IMAGE_PORT=${PORT}" in e.args for e in runtime.all("ENV"))
    (expose,) = runtime.all("EXPOSE")
    assert expose.args == "${PORT}"
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert eval_json(entrypoint.args) == ["livews-service"]
    (cmd,) = runtime.all("CMD")
    assert eval_json(cmd.args) == ["--host", "0.0.0.0"], "the port is each program's default"


@pytest.mark.parametrize("directory", sorted(PYTHON_IMAGES))
def test_every_member_is_built_with_its_own_package_and_port(
    infra: Any, compose: Any, directory: str
) -> None:
    """scripts/images.sh and docker-compose.yml agree with the member's pyproject.toml and
    its default port, which is the port the image's CMD listens on."""
    args = build_args(directory)
    project = member(infra.root, directory)
    assert args["PACKAGE"] == project["name"]
    assert args["PACKAGE"] in project["scripts"], "the package name is also its console script"
    assert int(args["PORT"]) == PYTHON_IMAGES[directory]
    main = next((infra.root / directory / "src").glob("*/__main__.py")).read_text()
    assert f"DEFAULT_PORT = {args['PORT']}" in main
    image = f"livews/{args['NAME']}:dev"
    built = [s for s in compose["services"].values() if s.get("image") == image]
    assert built, f"docker-compose.yml runs no {image}"
    for service in built:
        assert service["build"]["dockerfile"] == PYTHON_DOCKERFILE
        expected = {k: args[k] for k in ("SERVICE_DIR", "PACKAGE", "PORT")}
        assert service["build"]["args"] == expected


def test_images_are_the_ones_ci_publishes(infra: Any) -> None:
    script = (infra.root / "scripts/images.sh").read_text()
    names = {build_args(d)["NAME"] for d in PYTHON_IMAGES} | {"web"}
    assert "-t livews/web:dev" in script
    workflow = (infra.root / ".github/workflows/ci.yml").read_text()
    (published,) = re.findall(r"for name in ([\w -]+); do", workflow)
    assert set(published.split()) == names


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
    assert 'if [ "$WEB_DIST" = prebuilt ]' in runs, "the host-built web/dist, checked"
    assert runtime.base == "${BASE_IMAGE}"
    (user,) = runtime.all("USER")
    assert user.args.split(":")[0].isdigit() and user.args.split(":")[0] != "0"
    assert "healthz" in runtime.all("HEALTHCHECK")[0].args
    assert not runtime.all("RUN"), "the runtime stage only copies files"
    copies = [c.args for c in runtime.all("COPY")]
    assert "--chown=root:root web/nginx.conf /etc/livews-web/nginx.conf" in copies
    (entrypoint,) = runtime.all("ENTRYPOINT")
    assert eval_json(entrypoint.args)[:3] == ["nginx", "-c", "/etc/livews-web/nginx.conf"]


def test_web_server_config_passes_nginx_t(infra: Any, tmp_path: Path) -> None:
    """web/nginx.conf as the image runs it; everything it writes is under /tmp (a tmpfs on a
    read-only root filesystem)."""
    nginx = infra.tool("nginx", "nginx")
    conf = (infra.root / "web/nginx.conf").read_text()
    written = re.findall(r"^\s*(?:pid|\w+_temp_path)\s+(\S+);", conf, re.M)
    assert len(written) == 6 and all(p.startswith("/tmp/") for p in written), written
    (tmp_path / "nginx.conf").write_text(conf.replace("/tmp/", f"{tmp_path}/"))
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
        ".tools/bin/uv", ".livews/signing.pem", "infra/compose/certs/tls.key",
    )  # fmt: skip
    for path in dropped:
        assert ignored(path, patterns), path
    for path in ("pyproject.toml", "uv.lock", "libs/common/src/livews_common/names.py",
                 "services/gateway/pyproject.toml", "web/package-lock.json", "web/src/main.tsx",
                 "infra/nginx/nginx.conf", "web/nginx.conf",
                 "web/dist/index.html"):  # WEB_DIST=prebuilt copies it  # fmt: skip
        assert not ignored(path, patterns), path


@pytest.mark.parametrize(("dockerfile", "directory"), [
    *[(PYTHON_DOCKERFILE, d) for d in sorted(PYTHON_IMAGES)], ("web/Dockerfile", "")
])  # fmt: skip
def test_every_copied_path_is_in_the_build_context(
    infra: Any, dockerfile: str, directory: str
) -> None:
    patterns = dockerignore(infra.root)
    args = build_args(directory) if directory else {}
    for stage in parse((infra.root / dockerfile).read_text()):
        for copy in stage.all("COPY"):
            if copy.heredoc or any(a.startswith("--from") for a in shlex.split(copy.args)):
                continue
            paths = [a for a in shlex.split(expand(copy.args, args)) if not a.startswith("--")]
            for source in paths[:-1]:
                assert "${" not in source, f"{dockerfile}: {source} has no value"
                if source == "web/":
                    continue
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
    args = build_args(directory)
    (builder, runtime) = parse((infra.root / PYTHON_DOCKERFILE).read_text())
    src, venv = tmp_path / "src", tmp_path / "venv"
    src.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    for instruction in builder.instructions:
        line = expand(instruction.args, args)
        if instruction.op == "ENV":
            for pair in shlex.split(line):
                key, _, value = pair.partition("=")
                env[key] = value
        elif instruction.op == "COPY":
            *sources, dest = shlex.split(line)
            for source in sources:
                copy_into(infra.root / source, src, dest)
        elif instruction.op == "RUN" and "uv sync" in line:
            command = line[line.index("uv sync") :].split("&&")[0]
            env.update(UV_PROJECT_ENVIRONMENT=str(venv), UV_PYTHON=sys.executable)
            argv = [uv, *shlex.split(command)[1:]]
            proc = subprocess.run(argv, cwd=src, env=env, capture_output=True, text=True)
            assert proc.returncode == 0, f"{command}\n{proc.stderr}"
    script = args["PACKAGE"]
    assert (venv / "bin" / script).is_file()
    assert not (venv / "bin" / "pytest").exists(), "dev dependencies stay out of images"
    assert not list(venv.glob("lib/python*/site-packages/*.pth")) or not any(
        str(src) in p.read_text() for p in venv.glob("lib/python*/site-packages/*.pth")
    ), "installed as wheels, not editable links to the build directory"
    proc = subprocess.run([str(venv / "bin" / script), "--help"], capture_output=True, text=True)
    if "not implemented yet" not in proc.stdout + proc.stderr:
        assert proc.returncode == 0, proc.stderr
    assert runtime.all("ENTRYPOINT")


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
