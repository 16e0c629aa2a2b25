# Repositories restore and verify against real git: a backup made by the
# cut and copy, everything changed, restored, verified, tampered; hostile
# manifests, .refs and bundles.
ls_unit_test(test_restore_repos agent_restore_repos agent_backup_repos)
set_tests_properties(test_restore_repos PROPERTIES TIMEOUT 300)
find_program(LS_GIT_FOR_TESTS git)
if(LS_GIT_FOR_TESTS)
	target_compile_definitions(test_restore_repos PRIVATE LS_GIT_PATH="${LS_GIT_FOR_TESTS}")
endif()
