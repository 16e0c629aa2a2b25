# Against a private PostgreSQL 15 cluster the test starts and removes.
ls_unit_test(test_restore_pg agent_restore_pg)
target_sources(test_restore_pg PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/pg_cluster.c)
set_tests_properties(test_restore_pg PROPERTIES TIMEOUT 300)
