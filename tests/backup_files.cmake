# File components: cut (hard-link snapshot), copy (archive) and listing.
ls_unit_test(test_backup_files agent_backup_files)
set_tests_properties(test_backup_files PROPERTIES TIMEOUT 300)
