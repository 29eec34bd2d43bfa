"""Where things are in a checkout, so no module guesses paths on its own."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
PROTOS_DIR = REPO_ROOT / "protos"
GEN_DIR = REPO_ROOT / "gen"
GEN_PYTHON_DIR = GEN_DIR / "python"
DESCRIPTOR_SET = GEN_DIR / "descriptors" / "billingos.binpb"
OPENAPI_FILE = GEN_DIR / "openapi" / "billingos.openapi.json"
STATE_DIR = REPO_ROOT / ".billingos"
GATEWAY_DIR = REPO_ROOT / "gateway"
DEPLOY_DIR = REPO_ROOT / "deploy"
SERVICES_DIR = REPO_ROOT / "services"
# The front end the gateway serves (npm package, Vite + Preact) and its build.
WEB_DIR = REPO_ROOT / "web"
WEB_DIST = WEB_DIR / "dist"
# The service registry: one [[service]] entry per service (billingos_cli.services).
REGISTRY_FILE = REPO_ROOT / "services.toml"
