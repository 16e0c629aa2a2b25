# The PostgreSQL part of a node's backup: the held snapshot (the cut) and
# pg_dump --snapshot compressed by libarchive (the copy).
add_library(agent_backup_pg STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/backup_pg.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_pg_dump.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_pg_rows.c)
target_include_directories(agent_backup_pg PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_backup_pg PUBLIC agent_backup_core
	PostgreSQL::PostgreSQL LibArchive::LibArchive ls_store ls_base)
