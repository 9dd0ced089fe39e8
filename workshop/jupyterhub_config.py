# JupyterHub configuration of the course's workshop room. Start it with `make workshop` (which runs
# `python -m workshop.room start`): that writes the room's settings to a JSON file and passes its
# path in WORKSHOP_SETTINGS; this file only turns those settings into JupyterHub's.
# ruff: noqa: F821  (`c` is JupyterHub's config object, given to this file when it runs)
import json
import os
import sys
from pathlib import Path

settings = json.loads(Path(os.environ["WORKSHOP_SETTINGS"]).read_text())
sys.path.insert(0, settings["repo"])  # so that `workshop` imports in the hub process

from workshop.classlist import read_class_list  # noqa: E402
from workshop.limits import detect_backend  # noqa: E402

people = read_class_list(settings["class_list"])
state = Path(settings["state_dir"])
venv = Path(settings["venv"])

# ---- the hub, its database and its proxy (configurable-http-proxy from workshop/node_modules) ----
c.JupyterHub.bind_url = f"{'https' if settings.get('ssl_cert') else 'http'}://{settings['ip']}:{settings['port']}/"
if settings.get("ssl_cert"):
    c.JupyterHub.ssl_cert = settings["ssl_cert"]
    c.JupyterHub.ssl_key = settings["ssl_key"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [settings["proxy_command"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every learner's server (files stay)
c.JupyterHub.last_activity_interval = settings.get("last_activity_interval", 300)
c.JupyterHub.concurrent_spawn_limit = settings.get("concurrent_spawn_limit", 20)

# ---- who may log in: the class list; instructors are admins ----
c.JupyterHub.authenticator_class = "workshop.auth.ClassListAuthenticator"
c.ClassListAuthenticator.class_list = settings["class_list"]
c.ClassListAuthenticator.password_store = str(state / "first_use_passwords.json")
c.Authenticator.allowed_users = {p.username for p in people}
c.Authenticator.admin_users = {p.username for p in people if p.is_instructor}

# ---- each learner's JupyterLab, as their own Linux user, capped ----
limits, note = detect_backend(settings.get("limits", "auto"))
if note:
    print(f"workshop: limits: {note}", file=sys.stderr)
c.JupyterHub.spawner_class = "workshop.spawner.CourseSpawner"
c.CourseSpawner.course_notebooks = str(Path(settings["repo"]) / "notebooks")
c.CourseSpawner.budget = settings["budget"]
c.CourseSpawner.limits = limits
c.CourseSpawner.exposure = settings.get("exposure", {})
c.CourseSpawner.activity_interval = settings.get("activity_interval", 0)
c.CourseSpawner.home_root = settings["home_root"]
c.Spawner.mem_limit = settings["mem_limit"]
c.Spawner.cpu_limit = settings["cpu_limit"]
c.Spawner.cmd = [str(venv / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    "--MappingKernelManager.default_kernel_name=noise-to-art",
    # A room's network may have no internet: JupyterLab asks for neither news nor updates.
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
]
c.Spawner.http_timeout = 120  # a cold start imports JupyterLab on a busy machine
c.Spawner.start_timeout = 180
c.Spawner.poll_interval = settings.get("poll_interval", 30)
# Only what the course needs from the hub's environment (no secrets of the instructor's shell).
c.Spawner.env_keep = ["PATH", "LANG", "LC_ALL", "TZ"]
c.Spawner.environment = {"PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"}

# ---- the idle culler: stop a server nobody used for idle_timeout seconds (their files stay) ----
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [str(venv / "bin" / "python"), "-m", "jupyterhub_idle_culler",
                f"--timeout={settings['idle_timeout']}", f"--cull-every={settings['cull_every']}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
