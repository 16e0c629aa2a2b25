# Against a private PostgreSQL 15 cluster the test starts and removes.
ls_unit_test(test_backup_pg agent_backup_pg)
set_tests_properties(test_backup_pg PROPERTIES TIMEOUT 300)
