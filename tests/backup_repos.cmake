# Repositories cut and copy against real git repositories.
ls_unit_test(test_backup_repos agent_backup_repos)
set_tests_properties(test_backup_repos PROPERTIES TIMEOUT 300)
find_program(LS_GIT_FOR_TESTS git)
if(LS_GIT_FOR_TESTS)
	target_compile_definitions(test_backup_repos PRIVATE LS_GIT_PATH="${LS_GIT_FOR_TESTS}")
endif()
# The cut's snapshot of git's ref files; LS_BENCH_CUT_REPOS=N times the cut.
ls_unit_test(test_backup_repos_snap agent_backup_repos)
set_tests_properties(test_backup_repos_snap PROPERTIES TIMEOUT 300)
if(LS_GIT_FOR_TESTS)
	target_compile_definitions(test_backup_repos_snap PRIVATE LS_GIT_PATH="${LS_GIT_FOR_TESTS}")
endif()
# The copy's own bundle writer against `git bundle create`;
# LS_BENCH_COPY_REPOS=N times the copy's CPU.
ls_unit_test(test_backup_repos_bundle agent_backup_repos)
set_tests_properties(test_backup_repos_bundle PROPERTIES TIMEOUT 300)
if(LS_GIT_FOR_TESTS)
	target_compile_definitions(test_backup_repos_bundle PRIVATE LS_GIT_PATH="${LS_GIT_FOR_TESTS}")
endif()
