"""The secrets `xf stack up` generates for one stack directory, as files only their owner can read.

Layout, under `<stack_dir>/secrets/` (mode 0700):
  pseudonym-key, vault-keys,      the values of XF_PSEUDONYM_KEY, XF_VAULT_KEYS and XF_EVENT_SIGNING_KEY
  event-signing-key               (mode 0600)
  kafka/<principal>.json          {"username": ..., "password": ...} of each Kafka principal (mode 0600)

Settings reads the first two when they are not given explicitly; services.common.kafka.client_options
reads the Kafka credentials. Files are created with O_EXCL and mode 0600 from the start, never chmod-ed
after being written, so there is no moment at which another user could read them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

# Settings field → file name under secrets/.
SETTINGS_FILES: dict[str, str] = {
    "pseudonym_key": "pseudonym-key",
    "vault_keys": "vault-keys",
    "event_signing_key": "event-signing-key",
}
FILE_MODE = 0o600
DIR_MODE = 0o700


def secrets_dir(stack_dir: Path) -> Path:
    return stack_dir / "secrets"


def kafka_credentials_path(stack_dir: Path, principal: str) -> Path:
    return secrets_dir(stack_dir) / "kafka" / f"{principal}.json"


def read_secret(stack_dir: Path, name: str) -> str | None:
    """A secret file's content without the trailing newline, or None if there is none."""
    try:
        return (secrets_dir(stack_dir) / name).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None


def read_kafka_credentials(stack_dir: Path, principal: str) -> tuple[str, str] | None:
    """(username, password) the stack stored for `principal`, or None."""
    try:
        data = json.loads(kafka_credentials_path(stack_dir, principal).read_text())
    except (FileNotFoundError, NotADirectoryError, PermissionError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return username, password


def make_private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask, and an existing folder keeps its own


def write_private(path: Path, content: str) -> bool:
    """Create `path` with mode 0600 holding `content`; False (and nothing written) if it already exists."""
    make_private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as out:
        out.write(content)
    return True


def replace_private(path: Path, content: str) -> None:
    """Replace `path` at once (rename) by a new 0600 file holding `content`."""
    staging = path.with_name(f".{path.name}.new")
    staging.unlink(missing_ok=True)
    write_private(staging, content)
    os.replace(staging, path)


def kafka_credentials_text(username: str, password: str) -> str:
    return json.dumps({"username": username, "password": password}) + "\n"


def write_kafka_credentials(stack_dir: Path, principal: str, username: str, password: str) -> bool:
    return write_private(kafka_credentials_path(stack_dir, principal), kafka_credentials_text(username, password))
