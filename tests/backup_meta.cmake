# GitLab backup metadata and the export tar (included from tests/CMakeLists.txt).
ls_unit_test(test_backup_meta coord_backup_meta)
ls_unit_test(test_backup_export coord_backup_meta)
# The export test lists the archive with GNU tar, as an operator would.
find_program(LS_GNU_TAR tar)
if(LS_GNU_TAR)
	target_compile_definitions(test_backup_export PRIVATE LS_TAR_PATH="${LS_GNU_TAR}")
endif()
