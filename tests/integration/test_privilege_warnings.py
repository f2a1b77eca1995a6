"""`ktx connection test` warns when the connection's role is a superuser or can write."""

from __future__ import annotations

import uuid

from tests.integration.conftest import make_connector
from tests.integration.warehouses import build_mysql, build_postgres, pg_connect


def test_postgres_superuser_writer_and_reader_roles(tmp_path):
    wh, drop = build_postgres(tmp_path)
    role = f"ktx_role_{uuid.uuid4().hex[:8]}"
    admin = pg_connect()
    try:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f'GRANT USAGE ON SCHEMA "{wh.schema}" TO {role}')
        admin.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{wh.schema}" TO {role}')
        superuser = make_connector(wh)
        assert any("is a superuser" in w for w in superuser.test())
        superuser.close()
        reader = make_connector(wh, url=f"postgresql://{role}@127.0.0.1:5432/test")
        assert reader.test() == []
        reader.close()
        admin.execute(f'GRANT INSERT ON "{wh.schema}".orders TO {role}')
        writer = make_connector(wh, url=f"postgresql://{role}@127.0.0.1:5432/test")
        assert any("can write to tables" in w for w in writer.test())
        writer.close()
    finally:
        drop()
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")
        admin.close()


def test_mariadb_root_is_reported(tmp_path):
    wh, drop = build_mysql(tmp_path)
    try:
        connector = make_connector(wh)
        warnings = connector.test()
        connector.close()
        assert any("superuser" in w for w in warnings)
    finally:
        drop()
