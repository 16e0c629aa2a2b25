# The PostgreSQL part of a node's restore: GitLab's drop_tables, the dump
# loaded through psql, and the scratch database of a restore drill.
add_library(agent_restore_pg STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/restore_pg.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_pg_load.c)
target_include_directories(agent_restore_pg PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_restore_pg PUBLIC agent_backup_pg
	PostgreSQL::PostgreSQL LibArchive::LibArchive ls_base)
