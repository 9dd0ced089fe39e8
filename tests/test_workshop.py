"""The workshop room's pieces that need no running hub: class list, passwords, limits, settings.

The hub itself, with simulated learners, is checked by `make workshop-check` (workshop/room.py).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workshop.classlist import (  # noqa: E402
    ClassListChecker,
    ClassListError,
    PasswordStore,
    hash_password,
    parse_class_list,
    read_class_list,
    verify_password,
)
from workshop.limits import LimitError, detect_backend, exposure_plan, parse_bytes  # noqa: E402

# ---- class list ----


def test_example_class_list_parses():
    people = read_class_list(ROOT / "workshop" / "classlist.example.csv")
    assert [p.username for p in people if p.is_instructor] == ["teacher"]
    assert all(p.password is None for p in people)  # everyone chooses at first login
    assert len(people) == 4


def test_class_list_fields_roles_and_comments():
    people = parse_class_list("# comment\n\nteacher,a-long-secret,instructor\nada\nalan,,learner\n")
    assert [(p.username, p.password, p.role) for p in people] == [
        ("teacher", "a-long-secret", "instructor"), ("ada", None, "learner"), ("alan", None, "learner")]


@pytest.mark.parametrize("text, words", [
    ("teacher,,instructor\nBob Smith\n", ["line 2", "'Bob Smith'", "lowercase"]),
    ("teacher,,instructor\nroot\n", ["line 2", "'root'", "reserved"]),
    ("teacher,,instructor\nada,short\n", ["line 2", "5 characters", "at least 8"]),
    ("teacher,,instructor\nada,,boss\n", ["line 2", "'boss'", "learner, instructor"]),
    ("teacher,,instructor\nada\nada\n", ["line 3", "'ada'", "twice"]),
    ("ada\nalan\n", ["no instructor"]),
    ("# nobody\n", ["no learners"]),
    ("teacher,,instructor,extra\n", ["line 1", "4 fields"]),
])
def test_class_list_bad_input_is_one_line_naming_line_and_value(text, words):
    with pytest.raises(ClassListError) as err:
        parse_class_list(text)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_missing_class_list_names_the_argument(tmp_path):
    with pytest.raises(ClassListError, match="--class-list: .*is not a file"):
        read_class_list(tmp_path / "nope.csv")


# ---- passwords ----


def test_password_hash_round_trip_and_salt():
    stored = hash_password("correct horse")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsE", stored)
    assert stored != hash_password("correct horse")  # salted
    assert not verify_password("x", "garbage")


def test_logins_listed_first_use_unknown_and_wrong(tmp_path):
    people = parse_class_list("teacher,listed-password,instructor\nada\n")
    store = PasswordStore(tmp_path / "pw.json")
    check = ClassListChecker(people, store).check
    assert check("teacher", "listed-password") == "teacher"
    assert check("teacher", "listed-passwor") is None            # wrong listed password
    assert check("stranger", "whatever-long") is None            # not on the list
    assert check("ada", "short") is None                         # first use: too short
    assert store.get("ada") is None
    assert check("ada", "ada-chooses-this") == "ada"             # first use sets it
    assert check("ada", "someone-else-tries") is None            # from then on only that one
    assert check("ADA ", "ada-chooses-this") == "ada"            # names are normalised
    assert os.stat(tmp_path / "pw.json").st_mode & 0o777 == 0o600
    assert "ada-chooses-this" not in (tmp_path / "pw.json").read_text()


# ---- limits ----


@pytest.mark.parametrize("text, value", [("3G", 3 * 2**30), ("1536M", 1536 * 2**20), ("1.5g", 3 * 2**29),
                                         (str(2**30), 2**30), ("2GB", 2 * 2**30)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text, words", [("lots", ["--mem-limit", "'lots'", "e.g. 3G"]),
                                         ("100M", ["--mem-limit", "'100M'", "below 256M"])])
def test_parse_bytes_bad_input(text, words):
    with pytest.raises(LimitError) as err:
        parse_bytes(text)
    assert all(w in str(err.value) for w in words)


def test_limits_backend_choice_is_checked():
    with pytest.raises(LimitError, match="--limits: 'docker' is not one of auto, cgroup-v1, rlimit"):
        detect_backend("docker")
    backend, note = detect_backend("rlimit")
    assert backend.name == "rlimit" and "address space" in backend.describe(2**31, 1)


def test_exposure_plan_finds_the_closed_ancestor():
    base = Path(tempfile.mkdtemp(prefix="nta-test-", dir="/tmp"))  # pytest's own tmp_path sits under a 0700 dir
    closed = base / "closed"
    inside = closed / "python" / "bin"
    inside.mkdir(parents=True)
    os.chmod(base, 0o755)
    os.chmod(closed, 0o700)
    try:
        assert exposure_plan([inside]) == {closed: [inside]}
        os.chmod(closed, 0o755)
        assert exposure_plan([inside]) == {}
    finally:
        shutil.rmtree(base)


# ---- the hub's configuration and the command line ----


def test_jupyterhub_config_loads(tmp_path):
    from traitlets.config import Config

    class_list = tmp_path / "class.csv"
    class_list.write_text("teacher,,instructor\nada\nalan\n")
    settings = dict(repo=str(ROOT), venv=sys.prefix, class_list=str(class_list), state_dir=str(tmp_path),
                    home_root="/home", budget="smoke", mem_limit=2**31, cpu_limit=1.0, idle_timeout=600,
                    cull_every=60, limits="rlimit", ip="127.0.0.1", port=8000, hub_port=8081,
                    proxy_api_port=8001, proxy_command="configurable-http-proxy", exposure={})
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    os.environ["WORKSHOP_SETTINGS"] = str(path)
    try:
        c = Config()
        source = (ROOT / "workshop" / "jupyterhub_config.py").read_text()
        exec(compile(source, "jupyterhub_config.py", "exec"), {"c": c, "__file__": "jupyterhub_config.py"})
    finally:
        del os.environ["WORKSHOP_SETTINGS"]
    assert c.Authenticator.allowed_users == {"teacher", "ada", "alan"}
    assert c.Authenticator.admin_users == {"teacher"}
    assert c.CourseSpawner.budget == "smoke"
    assert c.Spawner.mem_limit == 2**31 and c.Spawner.cpu_limit == 1.0
    assert c.JupyterHub.spawner_class == "workshop.spawner.CourseSpawner"
    assert any("--timeout=600" in a for a in c.JupyterHub.services[0]["command"])
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000/"


@pytest.mark.parametrize("argv, words", [
    (["check", "--budget", "turbo"], ["--budget", "'turbo'", "cpu, smoke, gpu"]),
    (["check", "--cpu-limit", "many"], ["--cpu-limit", "'many'", "number of cores"]),
    (["check", "--cpu-limit", "64"], ["--cpu-limit", "'64'", "between 0.1"]),
    (["check", "--mem-limit", "1K"], ["--mem-limit", "'1K'", "below 256M"]),
    (["check", "--idle-timeout", "5"], ["--idle-timeout", "5", "at least 30"]),
    (["start", "--class-list", "/nonexistent.csv", "--budget", "smoke"], ["--class-list", "'/nonexistent.csv'"]),
])
def test_room_bad_input_is_one_line(argv, words):
    r = subprocess.run([sys.executable, "-m", "workshop.room", *argv], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert all(w in lines[0] for w in words), lines[0]


def test_proxy_comes_from_the_lock_file():
    package = json.loads((ROOT / "workshop" / "package.json").read_text())
    lock = json.loads((ROOT / "workshop" / "package-lock.json").read_text())
    assert "configurable-http-proxy" in package["dependencies"]
    assert "node_modules/configurable-http-proxy" in lock["packages"]


def test_k8s_values_parse_and_name_the_course_image():
    values = yaml.safe_load((ROOT / "workshop" / "k8s" / "values.yaml").read_text())
    singleuser = values["singleuser"]
    assert singleuser["memory"]["limit"] and singleuser["cpu"]["limit"]
    assert singleuser["image"]["name"]
    assert values["cull"]["enabled"] is True
    assert "COURSE_BUDGET" in singleuser["extraEnv"]


def test_image_environment_is_the_repositorys_less_pytorch():
    from workshop.k8s.image import image_environment

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    image = image_environment(env)
    names = [d.split(">")[0] for d in image["dependencies"] if isinstance(d, str)]
    top = [d.split(">")[0] for d in env["dependencies"] if isinstance(d, str)]
    assert "pytorch" not in names and "torchvision" not in names
    assert set(top) - set(names) == {"pytorch", "torchvision"}  # everything else is kept
    assert all("-e ." not in d.get("pip", []) for d in image["dependencies"] if isinstance(d, dict))
    post_build = (ROOT / "workshop" / "k8s" / "image" / "postBuild").read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu" in post_build
    assert os.access(ROOT / "workshop" / "k8s" / "image" / "postBuild", os.X_OK)
