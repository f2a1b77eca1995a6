"""Connection settings for server databases: a URL or separate fields, secrets resolved on use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ktx.errors import KtxError
from ktx.project.refs import resolve_reference


@dataclass
class ServerSettings:
    host: str | None
    port: int | None
    user: str | None
    password: str | None
    database: str | None
    options: dict[str, str]

    def secrets(self) -> list[str]:
        return [self.password] if self.password else []


def server_settings(connection_id: str, config, base_dir: Path, schemes: tuple[str, ...]) -> ServerSettings:
    def ref(field: str) -> str | None:
        value = getattr(config, field, None)
        if value is None and config.model_extra:
            value = config.model_extra.get(field)
        if value is None:
            return None
        return resolve_reference(str(value), field=f"connections.{connection_id}.{field}", base_dir=base_dir)

    if config.url:
        url = ref("url")
        if not url:
            raise KtxError(f"connections.{connection_id}.url is empty (check the env: or file: reference)")
        parts = urlsplit(url)
        scheme = parts.scheme.split("+", 1)[0]
        if scheme not in schemes:
            raise KtxError(f"connections.{connection_id}.url must start with {' or '.join(s + '://' for s in schemes)}")
        try:
            port = parts.port
        except ValueError:
            raise KtxError(f"connections.{connection_id}.url has an invalid port") from None
        return ServerSettings(
            host=parts.hostname,
            port=port,
            user=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            database=unquote(parts.path.lstrip("/")) or None,
            options=dict(parse_qsl(parts.query)),
        )
    if not getattr(config, "host", None):
        raise KtxError(f"connections.{connection_id} needs `url:` or `host:`")
    return ServerSettings(
        host=ref("host"),
        port=config.port,
        user=ref("user") or ref("username"),
        password=ref("password"),
        database=ref("database"),
        options={},
    )


def sql_string_list(values: Sequence[str], *, backslash_escapes: bool = False, national: bool = False) -> str:
    """`'a', 'b'` for catalog filters built by ktx (never user SQL). MySQL and ClickHouse also treat
    backslashes as escapes; SQL Server wants N'' literals for Unicode names."""

    def quote(value: str) -> str:
        if backslash_escapes:
            value = value.replace("\\", "\\\\")
        return ("N" if national else "") + "'" + value.replace("'", "''") + "'"

    return ", ".join(quote(v) for v in values)


class ServerSettingsMixin:
    """Settings and secret scrubbing shared by the drivers that reach a server by URL or host."""

    url_schemes: tuple[str, ...] = ()
    _settings: ServerSettings | None = None

    def settings(self) -> ServerSettings:
        if self._settings is None:
            me: Any = self  # the mixin's host is a Connector
            self._settings = server_settings(me.connection_id, me.config, me.base_dir, self.url_schemes)
        return self._settings

    def secret_values(self) -> list[str]:
        try:
            return self.settings().secrets()
        except Exception:
            return []
