# Restoring a file component: secure extraction (restore_tar.c), the move
# aside and rollback (restore_files.c) and the proof (restore_files_verify.c),
# from the listing the extraction saved (restore_files_listing.c) if it can.
add_library(agent_restore_files STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/restore_tar.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_files.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_files_verify.c
	${CMAKE_CURRENT_SOURCE_DIR}/restore_files_listing.c)
target_include_directories(agent_restore_files PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_restore_files PUBLIC agent_backup_files
	LibArchive::LibArchive OpenSSL::Crypto ls_base)
