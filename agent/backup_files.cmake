# File components of a node's backup: the hard-link cut, the archive copy
# (libarchive, pax + gzip/zstd) and the archive lister used by verify.
add_library(agent_backup_files STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/backup_files.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_files_copy.c
	${CMAKE_CURRENT_SOURCE_DIR}/backup_files_list.c)
target_include_directories(agent_backup_files PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_backup_files PUBLIC agent_backup_core agent_cfg
	LibArchive::LibArchive ls_store ls_base)
