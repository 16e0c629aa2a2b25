# File components: restore (move aside, secure extraction, rollback) and
# its verification, on real trees and hand-made hostile archives.
ls_unit_test(test_restore_files agent_restore_files agent_backup_files)
set_tests_properties(test_restore_files PROPERTIES TIMEOUT 300)
# The listing a restore saves for its verification, and every way it is
# not used.
ls_unit_test(test_restore_files_listing agent_restore_files agent_backup_files)
set_tests_properties(test_restore_files_listing PROPERTIES TIMEOUT 300)
