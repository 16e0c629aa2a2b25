# Restoring a Gitaly node's repositories from gitaly-backup's manifest
# layout (restore_repos.c, _one.c), the parsers of its manifests, .refs and
# bundle headers (restore_repos_parse.c), and the verification.
add_library(agent_restore_repos STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/restore_repos.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_repos_one.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_repos_parse.c)
target_include_directories(agent_restore_repos PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_restore_repos PUBLIC agent_backup_repos
	agent_restore_files agent_cfg ls_base Threads::Threads)
