"""PostgreSQL, the source of truth: pool, migrations, and the queries of each table."""
