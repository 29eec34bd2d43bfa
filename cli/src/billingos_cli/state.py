"""What `./billingos up` remembers between runs under `.billingos/`: ports it
chose, the suite's service token, the demo organization and key, and where the
running services listen (for `./billingos org create`)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SuiteState:
    service_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    gateway_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    postgres_port: int = 0
    http_port: int = 0
    demo_organization_id: str = ""
    demo_api_key: str = ""
    # Where the running suite's database is (`./billingos reconcile` reads it).
    database_url: str = ""
    # Filled while the suite runs.
    rest_url: str = ""
    grpc_addresses: dict[str, str] = field(default_factory=dict)
    supervisor_pid: int = 0

    @classmethod
    def load(cls, state_dir: Path) -> SuiteState:
        path = state_dir / "state.json"
        if not path.exists():
            return cls()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / "state.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.chmod(temporary, 0o600)  # it holds the service token and a key
        temporary.replace(path)


def write_env_file(state_dir: Path, rest_url: str, api_key: str, organization_id: str) -> Path:
    """`.billingos/env`: shell lines a user can `source` (the SDKs read the
    first two; the organization id is what the owner's SDK examples name)."""
    path = state_dir / "env"
    path.write_text(
        f"BILLINGOS_URL={rest_url}\nBILLINGOS_API_KEY={api_key}\n"
        f"BILLINGOS_ORGANIZATION_ID={organization_id}\n"
    )
    os.chmod(path, 0o600)
    return path
