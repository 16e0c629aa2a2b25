# Repositories part of a node's backup: the cut (a snapshot of every
# repository's refs, taken without git) and the copy into gitaly-backup's
# manifest layout.
add_library(agent_backup_repos STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_copy.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_util.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_one.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_bundle.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_hooks.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_snap.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_repos_scratch.c)
target_include_directories(agent_backup_repos PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_backup_repos PUBLIC agent_backup_core agent_cfg
	LibArchive::LibArchive ls_store ls_base Threads::Threads)
