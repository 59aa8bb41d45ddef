"""The repository's Meltano project, run the way a user runs it (`meltano run ...`) from tests.

Meltano and the plugins are installed once into the repository (`.venv-meltano`, `.meltano/`),
as `make demo` does, and reinstalled only when meltano.yml or pyproject.toml change. Each test
then gets its own Meltano system directory (run files, system database holding the state) that
links to the installed plugin environments, so tests, the demo and a second test session
never share state or half-written config files.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MELTANO_VENV = ROOT / ".venv-meltano"
# The postgres extra: Meltano's system database (and so its state) in PostgreSQL, shared by
# every worker (docs/many-accounts.md).
MELTANO_SPEC = "meltano[postgres]~=4.4.1"
SYS_DIR = ROOT / ".meltano"
PLUGIN_DIRS = ("extractors", "loaders", "mappers", "transformers", "utilities")
RUN_TIMEOUT = 600


def meltano_executable() -> Path:
    return Path(os.environ.get("CRM_MELTANO", MELTANO_VENV / "bin" / "meltano"))


@contextmanager
def _install_lock() -> Iterator[None]:
    SYS_DIR.mkdir(exist_ok=True)
    with (SYS_DIR / "crm-install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("meltano.yml", "pyproject.toml"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MELTANO_", "TAP_", "TARGET_"))}
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env["NO_COLOR"] = "1"
    return env


def ensure_installed() -> Path:
    """Meltano in .venv-meltano and every plugin of meltano.yml, installed once (locked)."""
    meltano = meltano_executable()
    stamp = SYS_DIR / "crm-install.stamp"
    with _install_lock():
        if not meltano.exists():
            subprocess.run([sys.executable, "-m", "venv", str(MELTANO_VENV)], check=True)
        python = str(meltano.parent / "python")
        has_postgres = [python, "-c", "import meltano, psycopg"]
        if subprocess.run(has_postgres, capture_output=True, check=False).returncode != 0:
            subprocess.run([python, "-m", "pip", "install", "-q", MELTANO_SPEC], check=True)
        fingerprint = _fingerprint()
        if not stamp.exists() or stamp.read_text() != fingerprint:
            result = subprocess.run(
                [str(meltano), "install"],
                cwd=ROOT,
                env=base_env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=1800,
            )
            if result.returncode != 0:
                raise RuntimeError(f"meltano install failed:\n{result.stdout}\n{result.stderr}")
            stamp.write_text(fingerprint)
    return meltano


class MeltanoProject:
    """`meltano` in the repository's project with a private system directory and state."""

    def __init__(self, meltano: Path, workdir: Path, env: Mapping[str, str]) -> None:
        self.meltano = meltano
        self.workdir = workdir
        self.sys_dir = workdir / "meltano-sys"
        self.sys_dir.mkdir(parents=True, exist_ok=True)
        for name in PLUGIN_DIRS:
            installed = SYS_DIR / name
            if installed.exists() and not (self.sys_dir / name).exists():
                (self.sys_dir / name).symlink_to(installed, target_is_directory=True)
        self.duckdb_path = workdir / "crm.duckdb"
        self.env = base_env()
        self.env.update(
            {
                "MELTANO_SYS_DIR_ROOT": str(self.sys_dir),
                "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
                "MELTANO_ENVIRONMENT": "dev",
                "TARGET_DUCKDB_FILEPATH": str(self.duckdb_path),
                "TARGET_JSONL_DESTINATION_PATH": str(workdir / "jsonl"),
            }
        )
        # dbt (transform/) reads the same DuckDB file and writes its run files here, not in output/.
        self.env["DBT_DUCKDB_PATH"] = str(self.duckdb_path)
        for transformer in ("DBT_DUCKDB", "DBT_POSTGRES"):
            name = transformer.lower().replace("_", "-")
            self.env[f"{transformer}_TARGET_PATH"] = str(workdir / f"{name}-target")
            self.env[f"{transformer}_LOG_PATH"] = str(workdir / f"{name}-logs")
        # target-crm's id maps and rejected-records files, per instance, out of the checkout.
        for instance in ("PIPEDRIVE", "PIPEDRIVE_MIGRATE", "ONPIPELINE"):
            name = instance.lower().replace("_", "-")
            self.env[f"TARGET_CRM__{instance}_ID_MAP_PATH"] = str(workdir / f"{name}-ids.sqlite")
            self.env[f"TARGET_CRM__{instance}_REJECTED_RECORDS_PATH"] = str(
                workdir / f"{name}-rejected.jsonl"
            )
        self.env.update(env)

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`meltano <args>` in the project root; on failure the error shows Meltano's output."""
        result = subprocess.run(
            [str(self.meltano), *args],
            cwd=ROOT,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"meltano {' '.join(args)} exited {result.returncode}\n"
                f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-8000:]}"
            )
        return result

    def id_map(self, instance: str) -> dict[tuple[str, str], str]:
        """target-crm's id map of one instance: (stream, source key) -> CRM id."""
        path = self.env[f"TARGET_CRM__{instance.upper().replace('-', '_')}_ID_MAP_PATH"]
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute("select stream, source_key, crm_id from ids").fetchall()
        return {(stream, key): crm_id for stream, key, crm_id in rows}


def worker_project(dest: Path) -> Path:
    """A fresh copy of the Meltano project, as an orchestrator's worker container has it.

    meltano.yml and the installed plugins (linked, as an image would have them built in);
    nothing of an earlier run: no system database, no run files, no state, no DuckDB file.
    """
    dest.mkdir(parents=True)
    (dest / "meltano.yml").write_bytes((ROOT / "meltano.yml").read_bytes())
    sys_dir = dest / ".meltano"
    sys_dir.mkdir()
    for name in PLUGIN_DIRS:
        if (SYS_DIR / name).exists():
            (sys_dir / name).symlink_to(SYS_DIR / name, target_is_directory=True)
    return dest
