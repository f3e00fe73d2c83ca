"""Code env builds, run as tasks (`codeenv.build`, `codeenv.delete`) with uv.

A build snapshots the env's settings and the general settings when it starts, takes one of
`codeEnvs.maxConcurrentBuilds` build slots of the machine (`slots`: builds of different
envs run side by side up to that number, in all server processes together; the others
wait, abortable; a `jupyter-off` of a managed env runs no process and takes none), then:
- managed env, `create`/`rebuild` (or its folder is gone): `uv venv` from scratch;
- `create`/`update`/`rebuild`: `uv pip install --exact` of core packages (when asked),
  Jupyter packages (when asked) and the spec, so the env matches its spec exactly;
- `jupyter-on`: installs the Jupyter support packages; `jupyter-off` installs nothing;
- then (un)registers the kernelspec and records the installed packages.
Every process runs contained (`sandbox`): as the account of its slot, never root, with an
environment built from nothing but uv's settings and the index of `codeEnvs.packageIndex`
(`--no-config`: the host's pip or uv configuration never leaks in). The spec is checked
again when the build starts (it may have been stored before a setting changed): options
and direct references are refused as at save. Every line of output goes to the build's
log, masked (`masking`), and so do the errors a build reports. A failed or aborted build
leaves the env BROKEN, never READY. Before the slot goes to another build, every process of
its account is killed (success, failure, abort or timeout alike).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from labkeeper.codeenvs import kernelspecs, logs, records, slots, storedlogs
from labkeeper.codeenvs.interpreters import resolve
from labkeeper.codeenvs.masking import Masker, url_secrets
from labkeeper.codeenvs.models import BROKEN, BUILDING, DESIGN_MANAGED, CodeEnv
from labkeeper.codeenvs.packages import installed_packages, probe_interpreter
from labkeeper.codeenvs.reports import success_report
from labkeeper.codeenvs.sandbox import BuildSandbox, SandboxError, runnable_uv
from labkeeper.codeenvs.service import managed_path
from labkeeper.codeenvs.spec import (
    Requirements,
    check_package_index,
    check_package_names,
    index_options,
    index_urls,
    requirement_lines,
)
from labkeeper.errors import BadRequest
from labkeeper.futures.runner import OperationError, TaskAborted, TaskContext, operation
from labkeeper.isolation.identity import UnixIdentity
from labkeeper.settings.service import get_general_settings

MODES = ("create", "update", "rebuild", "jupyter-on", "jupyter-off", "register")


def env_python(path: str | Path) -> Path:
    return Path(path) / "bin" / "python"


@dataclass
class Plan:
    """What one build does, fixed when it starts."""

    lang: str
    name: str
    mode: str
    token: str
    data_dir: Path
    path: Path
    managed: bool
    interpreter_code: str
    requirements: Requirements
    jupyter_packages: list[str]
    install_jupyter: bool
    index_args: list[str]
    index_env: dict[str, str]
    secrets: list[str]
    max_builds: int


def make_plan(ctx: TaskContext, args: dict[str, Any]) -> Plan:
    general = get_general_settings(ctx.store)["codeEnvs"]
    env = records.load_env(ctx.store, args["lang"], args["name"])
    desc = env.desc or {}
    allow = general.get("allowPipOptionsInSpec", False) is True
    direct = general.get("allowDirectReferences", False) is True
    try:
        spec = requirement_lines(env.spec_package_list or "", allow_options=allow, allow_direct=direct)
        core = check_package_names(
            general.get("corePackages") or [], "codeEnvs.corePackages", allow_direct=direct
        )
        jupyter = check_package_names(
            general.get("jupyterSupportPackages") or [],
            "codeEnvs.jupyterSupportPackages",
            allow_direct=direct,
        )
        index = check_package_index(general.get("packageIndex") or {})
    except Exception as exc:  # noqa: BLE001 - a setting changed since it was checked
        raise OperationError(str(exc)) from None
    index_args, index_env = index_options(index)
    lines = list(spec.lines)
    data_dir = node_data_dir(ctx, args)
    install_jupyter = bool(desc.get("installJupyterSupport", False))
    extra = (core if desc.get("installCorePackages") else []) + (jupyter if install_jupyter else [])
    return Plan(
        lang=env.lang,
        name=env.name,
        mode=args["mode"],
        token=args["token"],
        data_dir=data_dir,
        path=env_folder(env, data_dir),
        managed=env.deployment_mode == DESIGN_MANAGED,
        interpreter_code=str(desc.get("pythonInterpreter", "")),
        requirements=Requirements(tuple(extra + lines), spec.has_options),
        jupyter_packages=jupyter,
        install_jupyter=install_jupyter,
        index_args=index_args,
        index_env=index_env,
        secrets=url_secrets(index_urls(index)),
        max_builds=int(general.get("maxConcurrentBuilds") or 2),
    )


class Build:
    """One build in progress: its plan, its log, and the steps it reports."""

    def __init__(
        self, ctx: TaskContext, plan: Plan, log: logs.BuildLog, account: UnixIdentity | None
    ) -> None:
        self.ctx, self.plan, self.log = ctx, plan, log
        self.uv = runnable_uv(plan.data_dir)
        self.sandbox = BuildSandbox(plan.data_dir, ctx.owner, ctx.task_id, plan.path, account)
        self.environ: dict[str, str] = {}  # set by prepare: the cache it names is chosen there
        self.steps: list[str] = []
        self.python_version = ""

    def run_as(self) -> dict[str, Any]:
        """subprocess keywords of every build process: the build account, its environment."""
        return {"env": self.environ, **self.sandbox.popen_kwargs()}

    def step(self, name: str, total: int) -> None:
        self.steps.append(name)
        self.log.line(f"== {name}")
        self.ctx.progress([(name, len(self.steps), total)])

    def run(self, argv: list[str], what: str) -> None:
        self.log.command(argv)
        code, output = self.ctx.run(argv, on_line=self.log.line, **self.run_as())
        if code != 0:
            self.log.line(f"-- exit code {code}")
            raise OperationError(f"{what} failed (exit code {code}): {self.log.mask(_last_error(output))}")

    # -- managed envs ---------------------------------------------------------------------
    def create_venv(self) -> None:
        try:
            interpreter = resolve(self.plan.interpreter_code)
        except BadRequest as exc:  # the interpreter was removed from the machine since
            raise OperationError(exc.message) from None
        self.check_runnable(interpreter.path, f"the {interpreter.code} interpreter")
        kernelspecs.remove(self.plan.data_dir, self.plan.name)
        if self.plan.path.is_symlink():
            self.plan.path.unlink()
        elif self.plan.path.exists():
            shutil.rmtree(self.plan.path)
        self.sandbox.make_env_folder()
        argv = [self.uv, "venv", "--no-config", "--no-python-downloads", "--quiet"]
        self.run([*argv, f"--python={interpreter.path}", str(self.plan.path)], "Creating the environment")
        self.python_version = interpreter.version

    def install(self, requirements: Requirements, *, exact: bool) -> None:
        python = str(env_python(self.plan.path))
        argv = [self.uv, "pip", "install", "--no-config", "--compile-bytecode", f"--python={python}"]
        argv += ["--exact"] if exact else []
        argv += self.plan.index_args
        if requirements.has_options:  # allowed by the admin: uv reads the options from a file
            spec_file = self.sandbox.home / "tmp" / "requirements.txt"
            spec_file.write_text("\n".join(requirements.lines) + "\n")
            argv += [f"--requirements={spec_file}"]
        else:
            argv += ["--", *requirements.lines]
        self.run(argv, "Installing packages")

    def uninstall_all(self) -> None:
        names = [line.split("==")[0] for line in installed_packages(self.plan.path).splitlines() if line]
        if names:
            python = f"--python={env_python(self.plan.path)}"
            self.run([self.uv, "pip", "uninstall", "--no-config", python, "--", *names], "Removing packages")

    def build_managed(self) -> None:
        plan = self.plan
        exists = env_python(plan.path).exists()
        if plan.mode == "jupyter-on" and not exists:
            raise OperationError(f"{plan.path} holds no working env: update its packages first")
        building = plan.mode in ("create", "update", "rebuild")
        fresh = plan.mode in ("create", "rebuild") or (building and not exists)
        total = (1 if fresh else 0) + (1 if plan.mode != "jupyter-off" else 0) + 2
        if fresh:
            self.step("Creating the environment", total)
            self.create_venv()
        if plan.mode in ("create", "update", "rebuild"):
            self.step("Installing packages", total)
            if plan.requirements.lines:
                self.install(plan.requirements, exact=True)
            elif not fresh:
                self.uninstall_all()
        elif plan.mode == "jupyter-on":
            self.step("Installing Jupyter support", total)
            self.install(Requirements(tuple(plan.jupyter_packages), False), exact=False)
        self.step("Registering the Jupyter kernel", total)
        self.ctx.check_abort()
        self.sync_kernelspec()
        self.step("Listing installed packages", total)

    # -- non-managed envs -------------------------------------------------------------------
    def build_registered(self) -> None:
        self.step("Checking the interpreter", 3)
        self.check_runnable(env_python(self.plan.path), "the env's interpreter")
        version, problem = probe_interpreter(env_python(self.plan.path), run_as=self.run_as())
        if problem:
            raise OperationError(problem)
        self.python_version = version
        self.step("Registering the Jupyter kernel", 3)
        self.sync_kernelspec()
        self.step("Listing installed packages", 3)

    def sync_kernelspec(self) -> None:
        wanted = self.plan.install_jupyter and self.plan.mode != "jupyter-off"
        if not wanted:
            if kernelspecs.remove(self.plan.data_dir, self.plan.name):
                self.log.line("Removed the Jupyter kernelspec")
            return
        python = env_python(self.plan.path)
        if not any(line.lower().startswith("ipykernel==") for line in self.packages().splitlines()):
            raise OperationError(
                f"Jupyter support needs ipykernel in the env, and {self.plan.path} has none"
                + (
                    ""
                    if self.plan.managed
                    else ": install it there (labkeeper never changes a non-managed env)"
                )
            )
        target = kernelspecs.install(self.plan.data_dir, self.plan.name, str(python))
        self.log.line(f"Registered the Jupyter kernelspec {target}")

    def packages(self) -> str:
        if self.plan.managed:  # read in-process: a jupyter-off holds no account to run anything
            return installed_packages(self.plan.path)
        return installed_packages(self.plan.path, in_process=False, run_as=self.run_as())

    def check_runnable(self, path: str | Path, what: str) -> None:
        try:
            self.sandbox.check_runnable(path, what)
        except SandboxError as exc:
            raise OperationError(str(exc)) from None

    def prepare(self) -> None:
        try:
            self.sandbox.prepare(managed=self.plan.managed)
            if self.plan.mode != "jupyter-off":
                self.sandbox.check_runnable(self.uv, "uv")
        except SandboxError as exc:
            raise OperationError(str(exc)) from None
        self.environ = self.sandbox.environ(self.plan.index_env)
        who = self.sandbox.identity
        if who is None:
            self.log.line("labkeeper: this build runs no process")
            return
        self.log.line(f"labkeeper: building as UNIX user {who.name} (uid {who.uid})")
        if not self.sandbox.shared_cache:
            self.log.line(
                "labkeeper: another build of this user holds their uv cache: this one uses an empty cache"
            )
        for variable, value in sorted(self.plan.index_env.items()):  # masked by the log
            self.log.line(f"labkeeper: {variable}={value}")


def _last_error(output: str) -> str:
    """uv's own error text (from its first error line on), else the last lines of output."""
    lines = [line.strip().lstrip("╰─▶│├ ").strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    start = next((i for i, line in enumerate(lines) if line.lower().startswith(("error", "×"))), None)
    picked = lines[start : start + 8] if start is not None else lines[-6:]
    return " ".join(picked)[:1500] or "no output"


def env_folder(env: CodeEnv, data_dir: Path) -> Path:
    """Where the env is on the node whose data directory is `data_dir`: a managed env in that
    directory (every node has its own), a registered one where it was registered."""
    return managed_path(data_dir, env.name) if env.deployment_mode == DESIGN_MANAGED else Path(env.path)


def node_data_dir(ctx: TaskContext, args: dict[str, Any]) -> Path:
    """The data directory of the node running the task (the submitter's when it set none)."""
    return ctx.data_dir or Path(args["dataDir"])


@operation("codeenv.build")
def build_env(ctx: TaskContext, args: dict[str, Any]) -> dict[str, Any]:
    lang, name, token, mode = args["lang"], args["name"], args["token"], args["mode"]
    log = logs.BuildLog(node_data_dir(ctx, args), lang, name, mode, ctx.task_id)
    started = time.monotonic()
    log.line(f"labkeeper: {mode} of {lang} code env {name!r}, future {ctx.task_id}, by {ctx.owner}")
    touched = mode == "create"  # from here on a failure leaves the env BROKEN
    try:
        plan = make_plan(ctx, args)
        log.mask = Masker(plan.secrets)
        with _slot_for(ctx, plan) as account:
            build = Build(ctx, plan, log, account)
            try:
                records.set_if_holder(ctx.store, lang, name, token, state=BUILDING)
                touched = True
                build.prepare()
                if plan.managed:
                    build.build_managed()
                else:
                    build.build_registered()
                packages = build.packages()
                version = build.python_version or records.load_env(ctx.store, lang, name).python_version
                values = {"actual_package_list": packages, "python_version": version}
                values["jupyter_kernel"] = kernelspecs.is_installed(plan.data_dir, name)
                build.sandbox.finish()  # the env is the server's again before anyone sees it READY
                ctx.check_abort()
                if not records.finish_ready(ctx.store, lang, name, token, ctx.task_id, **values):
                    raise TaskAborted(ctx.task_id)
                _record_node(ctx, args)
            finally:
                build.sandbox.finish()  # before the slot goes to another build
        seconds = time.monotonic() - started
        log.line(f"labkeeper: env {name!r} is ready ({seconds:.2f} s)")
        return success_report(lang, name, mode, log.name, packages, version, seconds)
    except TaskAborted:
        reason = "The build was aborted before it finished; update the env to repair it"
        _broken(ctx, args, log, reason, touched=touched)
        raise
    except OperationError as exc:
        masked = log.mask(str(exc))
        _broken(ctx, args, log, masked, touched=touched)
        if masked != str(exc):
            raise OperationError(masked) from None
        raise
    except Exception as exc:
        reason = log.mask(f"{type(exc).__name__}: {exc}")
        _broken(ctx, args, log, reason, touched=touched)
        if reason != f"{type(exc).__name__}: {exc}":
            raise OperationError(reason) from None
        raise
    finally:
        records.release(ctx.store, lang, name, token)
        log.close()
        storedlogs.keep(ctx.store, lang, name, log, ctx.task_id)


def _record_node(ctx: TaskContext, args: dict[str, Any]) -> None:
    """Record that the node which ran the build holds the env at its new version."""
    from labkeeper.codeenvs.nodebuilds import record_built
    from labkeeper.futures.models import Task

    with ctx.store.read() as s:
        task = s.get(Task, ctx.task_id)
        env = records.get_env(s, args["lang"], args["name"])
    node = (task.node if task is not None else "") or str(args.get("submittedOn") or "")
    if node:
        record_built(ctx.store, node, env.lang, env.name, env.last_built_on, ctx.task_id)


@contextmanager
def _slot_for(ctx: TaskContext, plan: Plan) -> Iterator[UnixIdentity | None]:
    """The account of a build slot held for the build; None for a build that runs nothing."""
    if plan.managed and plan.mode == "jupyter-off":
        yield None
        return
    with slots.hold_slot(
        plan.data_dir,
        limit=lambda: _max_builds(ctx),
        on_wait=lambda: ctx.progress([("Waiting for a build slot", None, None)]),
        check_abort=ctx.check_abort,
    ) as slot:
        yield slot.identity


def _max_builds(ctx: TaskContext) -> int:
    return int(get_general_settings(ctx.store)["codeEnvs"].get("maxConcurrentBuilds") or 2)


def _broken(
    ctx: TaskContext, args: dict[str, Any], log: logs.BuildLog, reason: str, *, touched: bool
) -> None:
    log.line(f"labkeeper: build failed: {reason}")
    if touched:  # a build stopped before it changed anything leaves the env as it was
        lang, name, token = args["lang"], args["name"], args["token"]
        records.set_if_holder(ctx.store, lang, name, token, state=BROKEN, last_error=reason)


@operation("codeenv.delete")
def delete_env(ctx: TaskContext, args: dict[str, Any]) -> dict[str, Any]:
    """Remove the kernelspec, the record, the env folder (managed envs only) and the logs."""
    lang, name, token = args["lang"], args["name"], args["token"]
    data_dir = node_data_dir(ctx, args)
    env = records.load_env(ctx.store, lang, name)
    ctx.progress([("Deleting the environment", 1, 2)])
    kernelspecs.remove(data_dir, name)
    trash = None
    folder = env_folder(env, data_dir)
    if env.deployment_mode == DESIGN_MANAGED and folder.exists():
        trash = folder.with_name(f".deleted-{ctx.task_id}")
        os.replace(folder, trash)  # atomic: the env is gone at once, the files go after
    with ctx.store.begin() as s:
        s.execute(
            delete(CodeEnv).where(CodeEnv.lang == lang, CodeEnv.name == name, CodeEnv.build_token == token)
        )
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    logs.remove_logs(data_dir, lang, name)
    storedlogs.remove(ctx.store, lang, name)
    return success_report(lang, name, "delete", "", "", env.python_version, None)
