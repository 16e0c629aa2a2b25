# lockstep-agent-exec: the child-process runner and the check parsers.
ls_unit_test(test_exec ls_base)
ls_unit_test(test_gitlabctl agent_checks)
ls_unit_test(test_versionparse agent_checks)
ls_unit_test(test_redisinfo agent_checks)
ls_unit_test(test_geo_check agent_checks)
ls_unit_test(test_rake_task agent_checks)

# The executor binary end to end (op, facts) against a scratch node.
ls_unit_test(test_exec_op ls_base ls_proto)
target_compile_definitions(test_exec_op PRIVATE
	LOCKSTEP_EXEC_PATH="$<TARGET_FILE:lockstep-agent-exec>")
add_dependencies(test_exec_op lockstep-agent-exec)

# The upgrade operations end to end against recording stand-ins.
ls_unit_test(test_exec_upgrade ls_base ls_proto)
target_compile_definitions(test_exec_upgrade PRIVATE
	LOCKSTEP_EXEC_PATH="$<TARGET_FILE:lockstep-agent-exec>")
add_dependencies(test_exec_upgrade lockstep-agent-exec)

# kube_stream (kubectl exec streamed line by line, /bin/sh standing in)
# and the df -Pk parser KubeRestore checks the toolbox pod's room with.
ls_unit_test(test_kube_stream agent_cfg ls_base)
target_sources(test_kube_stream PRIVATE ${CMAKE_SOURCE_DIR}/agent/kube_cmd.c)
