# Against a private PostgreSQL 15 cluster the test starts and removes.
ls_unit_test(test_backup_pg agent_backup_pg)
target_sources(test_backup_pg PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/pg_cluster.c)
set_tests_properties(test_backup_pg PROPERTIES TIMEOUT 300)
# The row counter over pg_dump's output, on its own.
ls_unit_test(test_backup_pg_rows agent_backup_pg)
