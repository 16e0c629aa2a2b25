# lockstep-agent-exec: the child that runs every operation and check. It
# alone links libcurl, libpq, hiredis and jansson.

# Pure parsers and the check report: no I/O, linked by unit tests and fuzzers.
add_library(agent_checks STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/check_gitlabctl_parse.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_version_parse.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_redisinfo.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_geo_parse.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_report.c
	${CMAKE_CURRENT_SOURCE_DIR}/rake_task.c)
target_include_directories(agent_checks PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_checks PUBLIC ls_base PkgConfig::JANSSON)

add_executable(lockstep-agent-exec
	${CMAKE_CURRENT_SOURCE_DIR}/exec_main.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_facts.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_run.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_node.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_postgres.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_redis.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_gitaly.c
	${CMAKE_CURRENT_SOURCE_DIR}/gitaly_walk.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_rails.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_geo.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_backup.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_backup_copy.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_maint.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_restore.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_restore_drill.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_restore_node.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_restore_verify.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_upgrade.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_upgrade_pkg.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_bbm.c
	${CMAKE_CURRENT_SOURCE_DIR}/pg_bbm.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_geo_secrets.c
	${CMAKE_CURRENT_SOURCE_DIR}/agent_identity_pb.c
	${CMAKE_CURRENT_SOURCE_DIR}/gitlab_api.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_cmd.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_json.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_kube.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_kube_secrets.c
	${CMAKE_CURRENT_SOURCE_DIR}/check_kube.c
	${CMAKE_CURRENT_SOURCE_DIR}/repo_fsck.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_restore.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_verify.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_verify_repos.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_verify_uploads.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_verify_s3.c
	${CMAKE_CURRENT_SOURCE_DIR}/pg_storage.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_cutover.c
	${CMAKE_CURRENT_SOURCE_DIR}/registry_kube.c
	${CMAKE_CURRENT_SOURCE_DIR}/exec_registry.c)
target_link_libraries(lockstep-agent-exec PRIVATE agent_checks agent_cfg agent_registry
	agent_backup_pg agent_backup_repos agent_backup_files
	agent_restore_pg agent_restore_files agent_restore_repos agent_kube_secrets
	ls_base ls_proto CURL::libcurl PostgreSQL::PostgreSQL
	PkgConfig::HIREDIS PkgConfig::JANSSON PkgConfig::SODIUM)
install(TARGETS lockstep-agent-exec DESTINATION ${LOCKSTEP_LIBEXECDIR})
# KubeRestore exports <id>_gitlab_backup.tar with the coordinator's own
# export (coordinator/backup_meta.cmake: no coordinator state in it).
target_link_libraries(lockstep-agent-exec PRIVATE coord_backup_meta)
