# `lockstep-agent-exec restore` end to end: restore, verify and drill of a
# database (a private PostgreSQL 15 cluster), repositories and a file
# component, backed up with the backup libraries.
ls_unit_test(test_exec_restore ls_base ls_proto agent_backup_pg
	agent_backup_files agent_backup_repos)
target_sources(test_exec_restore PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/pg_cluster.c)
target_compile_definitions(test_exec_restore PRIVATE
	LOCKSTEP_EXEC_PATH="$<TARGET_FILE:lockstep-agent-exec>")
add_dependencies(test_exec_restore lockstep-agent-exec)
set_tests_properties(test_exec_restore PROPERTIES TIMEOUT 600)
if(LS_GIT_FOR_TESTS)
	target_compile_definitions(test_exec_restore PRIVATE LS_GIT_PATH="${LS_GIT_FOR_TESTS}")
endif()
# RestoreSecrets and Services through the binary, and the agent's side
# (agent_restore.c) with the real executor and with broken children.
ls_unit_test(test_exec_restore_node agent_net agent_cfg ls_base ls_proto)
target_compile_definitions(test_exec_restore_node PRIVATE
	LOCKSTEP_EXEC_PATH="$<TARGET_FILE:lockstep-agent-exec>")
add_dependencies(test_exec_restore_node lockstep-agent-exec)
